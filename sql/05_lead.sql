-- Leads of each dealership: web-form, manual or EasyCars leads, pushed to and refreshed from EasyCars.

-- Phone numbers are kept as entered and, beside them, in E.164 so that '0412 345 678',
-- '+61 412 345 678' and '61412345678' are one number to search and to compare.
CREATE FUNCTION easycars.au_phone_e164(phone text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        -- dialled internationally from Australia (0011 + country code)
        WHEN NOT plus AND d ~ '^0011[1-9][0-9]{6,14}$' THEN '+' || substr(d, 5)
        -- Australian, written internationally: +61 4.., 61 2.., +61 (0)4..
        WHEN (plus OR d ~ '^61') AND d ~ '^610?[2-478][0-9]{8}$' THEN '+61' || right(d, 9)
        WHEN (plus OR d ~ '^61') AND d ~ '^610?1[38]00[0-9]{6}$' THEN '+61' || right(d, 10)
        -- another country's number, already international
        WHEN plus AND d ~ '^[1-9][0-9]{7,14}$' AND d !~ '^61' THEN '+' || d
        -- Australian, written nationally: (02) 9876 5432, 0412 345 678, 1300 123 456, 13 12 34
        WHEN NOT plus AND d ~ '^0[2-478][0-9]{8}$' THEN '+61' || substr(d, 2)
        WHEN NOT plus AND d ~ '^1[38]00[0-9]{6}$' THEN '+61' || d
        WHEN NOT plus AND d ~ '^13[0-9]{4}$' THEN '+61' || d
        -- a mobile typed without its leading 0
        WHEN NOT plus AND d ~ '^4[0-9]{8}$' THEN '+61' || d
    END
    FROM (SELECT btrim(phone) ~ '^\+' AS plus, regexp_replace(phone, '[^0-9]', '', 'g') AS d) n
$$;
COMMENT ON FUNCTION easycars.au_phone_e164(text) IS
    'A phone number in E.164 (+61412345678), read the Australian way: national (0412 345 678, (02) 9876 5432, 1300/1800/13 numbers), international (+61 ..., 61 ..., +61 (0) ..., 0011 ...) or a mobile missing its leading 0; other countries'' numbers only when written with +. NULL when it is not a whole phone number.';

CREATE TABLE easycars.lead (
    id                        bigint GENERATED ALWAYS AS IDENTITY,
    dealership_id             integer      NOT NULL,
    vehicle_id                bigint,
    name                      varchar(100) NOT NULL,
    email                     varchar(100),
    phone                     varchar(20),
    message                   text,
    status                    varchar(20)  NOT NULL DEFAULT 'new',
    -- seed 000: EasyCars columns
    easycars_lead_number      varchar(100),
    easycars_customer_no      varchar(100),
    easycars_raw_data         jsonb,
    data_source               varchar(20)  NOT NULL DEFAULT 'Manual',
    last_synced_to_easycars   timestamptz,
    last_synced_from_easycars timestamptz,
    vehicle_interest_type     varchar(50),
    finance_interested        boolean      NOT NULL DEFAULT false,
    rating                    varchar(20),
    -- EasyCars lead fields a push needs when the lead has no local vehicle
    mobile                    varchar(20),
    customer_state            varchar(10),
    customer_postcode         varchar(10),
    finance_status            varchar(10),
    vehicle_make              varchar(100),
    vehicle_model             varchar(50),
    vehicle_year              integer,
    vehicle_price             numeric(12,2),
    vehicle_type              varchar(20),
    is_vehicle_new            boolean,
    source_page_url           varchar(400),
    last_push_error           text,
    easycars_push_digest      text,
    created_at                timestamptz  NOT NULL DEFAULT now(),
    updated_at                timestamptz  NOT NULL DEFAULT now(),
    -- 0.4.0: working the leads (priority, internal notes, search)
    internal_notes            text,
    update_count              integer      NOT NULL DEFAULT 0,
    score                     smallint     NOT NULL DEFAULT 0,
    phone_e164                text GENERATED ALWAYS AS (easycars.au_phone_e164(phone)) STORED,
    mobile_e164               text GENERATED ALWAYS AS (easycars.au_phone_e164(mobile)) STORED,
    search                    tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig,
            coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(mobile, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(message, '') || ' ' || coalesce(internal_notes, '')), 'B')
    ) STORED,
    CONSTRAINT lead_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT lead_lead_number_key UNIQUE (dealership_id, easycars_lead_number),
    CONSTRAINT lead_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    -- A lead can only point at a vehicle of its own dealership; deleting the vehicle keeps the lead.
    CONSTRAINT lead_vehicle_fkey FOREIGN KEY (dealership_id, vehicle_id)
        REFERENCES easycars.vehicle (dealership_id, id) ON DELETE SET NULL (vehicle_id),
    CONSTRAINT lead_data_source_chk CHECK (data_source IN ('Manual', 'EasyCars', 'WebForm')),
    CONSTRAINT lead_status_chk CHECK (status IN ('new', 'in_progress', 'won', 'lost', 'deleted')),
    CONSTRAINT lead_vehicle_interest_chk CHECK (vehicle_interest_type IS NULL OR vehicle_interest_type IN ('Buy', 'Lease', 'Sell', 'TestDrive', 'Service')),
    CONSTRAINT lead_rating_chk CHECK (rating IS NULL OR rating IN ('Cold', 'Warm', 'Hot')),
    CONSTRAINT lead_finance_status_chk CHECK (finance_status IS NULL OR finance_status IN ('Yes', 'No', 'Maybe')),
    CONSTRAINT lead_vehicle_type_chk CHECK (vehicle_type IS NULL OR vehicle_type IN ('Car', 'MotorBike', 'Boat', 'Caravan', 'TruckOrBus', 'Trailer')),
    CONSTRAINT lead_vehicle_year_chk CHECK (vehicle_year IS NULL OR vehicle_year BETWEEN 1885 AND 2100),
    CONSTRAINT lead_vehicle_price_chk CHECK (vehicle_price IS NULL OR vehicle_price >= 0),
    CONSTRAINT lead_name_chk CHECK (btrim(name) <> ''),
    CONSTRAINT lead_email_chk CHECK (email IS NULL OR email ~ '^[^@\s]+@[^@\s]+$'),
    CONSTRAINT lead_contact_chk CHECK (email IS NOT NULL OR phone IS NOT NULL OR mobile IS NOT NULL),
    CONSTRAINT lead_score_chk CHECK (score BETWEEN 0 AND 100),
    CONSTRAINT lead_update_count_chk CHECK (update_count >= 0)
);
COMMENT ON TABLE easycars.lead IS
    'Leads of each dealership. easycars.push_leads() creates them in EasyCars (storing easycars_lead_number and easycars_customer_no) and pushes later changes; easycars.sync_leads() refreshes them from EasyCars.';
COMMENT ON COLUMN easycars.lead.vehicle_id IS 'The vehicle the lead is about, within the same dealership; NULL if none or deleted.';
COMMENT ON COLUMN easycars.lead.status IS 'new, in_progress, won, lost or deleted (EasyCars LeadStatus 10, 30, 50, 60, 90). A lead deleted in EasyCars cannot be reactivated.';
COMMENT ON COLUMN easycars.lead.easycars_lead_number IS 'EasyCars LeadNumber (6 digits) once the lead exists in EasyCars.';
COMMENT ON COLUMN easycars.lead.easycars_customer_no IS 'EasyCars CustomerNo of the lead''s customer.';
COMMENT ON COLUMN easycars.lead.easycars_raw_data IS 'The last GetLeadDetail answer exactly as received.';
COMMENT ON COLUMN easycars.lead.data_source IS 'Manual, EasyCars or WebForm: where the lead was first entered.';
COMMENT ON COLUMN easycars.lead.last_synced_to_easycars IS 'When this lead was last pushed to EasyCars; a later updated_at means local changes wait to be pushed.';
COMMENT ON COLUMN easycars.lead.last_synced_from_easycars IS 'When this lead was last refreshed from EasyCars.';
COMMENT ON COLUMN easycars.lead.vehicle_interest_type IS 'EasyCars VehicleInterest: Buy, Lease, Sell, TestDrive or Service.';
COMMENT ON COLUMN easycars.lead.finance_interested IS 'True when finance_status is Yes.';
COMMENT ON COLUMN easycars.lead.rating IS 'EasyCars Rating: Cold (1), Warm (2) or Hot (3).';
COMMENT ON COLUMN easycars.lead.finance_status IS 'EasyCars FinanceStatus: Yes, No or Maybe.';
COMMENT ON COLUMN easycars.lead.vehicle_make IS 'Vehicle make for EasyCars when the lead has no linked vehicle.';
COMMENT ON COLUMN easycars.lead.vehicle_type IS 'EasyCars VehicleType: Car, MotorBike, Boat, Caravan, TruckOrBus or Trailer.';
COMMENT ON COLUMN easycars.lead.source_page_url IS 'EasyCars VehicleSourcePageURL: the page the customer enquired from.';
COMMENT ON COLUMN easycars.lead.easycars_push_digest IS 'Digest of the fields last pushed to EasyCars; a different digest now means local changes to push.';
COMMENT ON COLUMN easycars.lead.internal_notes IS 'The dealership''s own notes on the lead (calls, visits); searched by easycars.search_leads(), never sent to EasyCars.';
COMMENT ON COLUMN easycars.lead.update_count IS 'How many times the lead''s content (contact details, message, notes, status, rating, finance, interest, vehicle) has changed; counted by a trigger, part of the score.';
COMMENT ON COLUMN easycars.lead.score IS 'Priority 0-100, computed by the database from rating, interest, finance status, recency, linked vehicle, complete contact details and update count with the weights in easycars.lead_score_weights; 0 for won, lost and deleted leads. Kept current by a trigger and refreshed nightly for recency (easycars.refresh_lead_scores()).';
COMMENT ON COLUMN easycars.lead.phone_e164 IS 'phone in E.164 (easycars.au_phone_e164), NULL when it is not a whole phone number.';
COMMENT ON COLUMN easycars.lead.mobile_e164 IS 'mobile in E.164 (easycars.au_phone_e164), NULL when it is not a whole phone number.';
COMMENT ON COLUMN easycars.lead.search IS 'Full-text search vector: name, email and phones (simple, weight A), message and internal notes (English, weight B).';
COMMENT ON COLUMN easycars.lead.last_push_error IS 'Why the last push of this lead to EasyCars failed (e.g. a Code 7 validation message); NULL after a successful push.';

CREATE INDEX lead_easycars_lead_idx ON easycars.lead (easycars_lead_number) WHERE easycars_lead_number IS NOT NULL;
CREATE INDEX lead_data_source_idx ON easycars.lead (data_source);
CREATE INDEX lead_dealership_data_source_idx ON easycars.lead (dealership_id, data_source);
CREATE INDEX lead_vehicle_idx ON easycars.lead (dealership_id, vehicle_id) WHERE vehicle_id IS NOT NULL;
CREATE INDEX lead_last_synced_to_idx ON easycars.lead (dealership_id, last_synced_to_easycars);
-- Finding a dealership's leads (seed 001): by email, by status, newest first.
CREATE INDEX lead_dealership_email_idx ON easycars.lead (dealership_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX lead_dealership_status_idx ON easycars.lead (dealership_id, status);
CREATE INDEX lead_dealership_created_idx ON easycars.lead (dealership_id, created_at DESC);

-- Priority first: a dealership's best leads, and everyone's for administrators.
CREATE INDEX lead_dealership_score_idx ON easycars.lead (dealership_id, score DESC, id);
CREATE INDEX lead_score_idx ON easycars.lead (score DESC, id);
-- Search (easycars.search_leads): words, fuzzy names and emails, phones by number or digits.
CREATE INDEX lead_search_idx ON easycars.lead USING gin (search);
-- The operator class is pg_trgm's, named by the schema the DBA installed pg_trgm in.
DO $$
BEGIN
    EXECUTE format('CREATE INDEX lead_fuzzy_idx ON easycars.lead USING gin '
                   '(name %1$I.gin_trgm_ops, lower(email) %1$I.gin_trgm_ops, phone_e164 %1$I.gin_trgm_ops, mobile_e164 %1$I.gin_trgm_ops)',
                   (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'pg_trgm'));
END
$$;
CREATE INDEX lead_phone_e164_idx ON easycars.lead (phone_e164) WHERE phone_e164 IS NOT NULL;
CREATE INDEX lead_mobile_e164_idx ON easycars.lead (mobile_e164) WHERE mobile_e164 IS NOT NULL;
-- Containment searches over what EasyCars sent (easycars_raw_data @> '{"Rating": 3}').
CREATE INDEX lead_raw_data_idx ON easycars.lead USING gin (easycars_raw_data jsonb_path_ops);

-- A rescore (score only) is no edit: updated_at stays. The E.164 columns are generated, so not
-- computed yet when the trigger compares.
CREATE TRIGGER lead_touch_updated_at BEFORE UPDATE ON easycars.lead
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at('score', 'phone_e164', 'mobile_e164');
