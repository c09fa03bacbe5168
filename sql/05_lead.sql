-- Leads of each dealership: web-form, manual or EasyCars leads, pushed to and refreshed from EasyCars.

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
    CONSTRAINT lead_contact_chk CHECK (email IS NOT NULL OR phone IS NOT NULL OR mobile IS NOT NULL)
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

CREATE TRIGGER lead_touch_updated_at BEFORE UPDATE ON easycars.lead
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at();
