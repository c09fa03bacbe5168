-- Vehicles of each dealership: manual, imported or synced from EasyCars stock.

CREATE TABLE easycars.vehicle (
    id                        bigint GENERATED ALWAYS AS IDENTITY,
    dealership_id             integer       NOT NULL,
    make                      varchar(100)  NOT NULL,
    model                     varchar(100)  NOT NULL,
    year                      integer       NOT NULL,
    price                     numeric(12,2),
    mileage                   integer,
    status                    varchar(20)   NOT NULL DEFAULT 'active',
    condition                 varchar(20)   NOT NULL DEFAULT 'used',
    title                     text          NOT NULL,
    description               text,
    images                    jsonb         NOT NULL DEFAULT '[]',
    -- seed 000: EasyCars columns
    easycars_stock_number     varchar(100),
    easycars_yard_code        varchar(50),
    easycars_vin              varchar(17),
    easycars_raw_data         jsonb,
    easycars_raw_md5          text,
    data_source               varchar(20)   NOT NULL DEFAULT 'Manual',
    last_synced_from_easycars timestamptz,
    exterior_color            varchar(50),
    interior_color            varchar(50),
    body                      varchar(50),
    fuel_type                 varchar(50),
    gear_type                 varchar(50),
    engine_capacity           varchar(50),
    door_count                integer,
    features                  jsonb,
    -- EasyCars stock fields worth querying directly (the rest stays in easycars_raw_data)
    yard_name                 text,
    badge                     text,
    series                    text,
    rego_number               varchar(20),
    rego_state                varchar(10),
    rego_expiry               date,
    stock_status              varchar(50),
    stock_type                char(1),
    is_used                   boolean,
    is_demo                   boolean,
    is_special                boolean,
    is_drive_away             boolean,
    special_price             numeric(12,2),
    drive_train               varchar(50),
    seat_capacity             integer,
    cylinders                 varchar(20),
    engine_size_cc            integer,
    power_kw                  numeric(8,2),
    odometer_in_miles         boolean       NOT NULL DEFAULT false,
    video_url                 text,
    removed_from_easycars_at  timestamptz,
    created_at                timestamptz   NOT NULL DEFAULT now(),
    updated_at                timestamptz   NOT NULL DEFAULT now(),
    search                    tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig,
            coalesce(make, '') || ' ' || coalesce(model, '') || ' ' || coalesce(badge, '') || ' ' ||
            coalesce(series, '') || ' ' || coalesce(description, ''))
    ) STORED,
    CONSTRAINT vehicle_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT vehicle_stock_number_key UNIQUE (dealership_id, easycars_stock_number),
    CONSTRAINT vehicle_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT vehicle_data_source_chk CHECK (data_source IN ('Manual', 'EasyCars', 'Import')),
    CONSTRAINT vehicle_easycars_identity_chk CHECK (data_source <> 'EasyCars' OR easycars_stock_number IS NOT NULL),
    CONSTRAINT vehicle_status_chk CHECK (status IN ('active', 'pending', 'sold', 'draft', 'removed')),
    CONSTRAINT vehicle_condition_chk CHECK (condition IN ('new', 'used', 'demo')),
    CONSTRAINT vehicle_year_chk CHECK (year BETWEEN 1885 AND 2100),
    CONSTRAINT vehicle_price_chk CHECK (price IS NULL OR price >= 0),
    CONSTRAINT vehicle_special_price_chk CHECK (special_price IS NULL OR special_price >= 0),
    CONSTRAINT vehicle_mileage_chk CHECK (mileage IS NULL OR mileage >= 0),
    CONSTRAINT vehicle_door_count_chk CHECK (door_count IS NULL OR door_count BETWEEN 0 AND 9),
    CONSTRAINT vehicle_seat_capacity_chk CHECK (seat_capacity IS NULL OR seat_capacity BETWEEN 0 AND 100),
    CONSTRAINT vehicle_stock_type_chk CHECK (stock_type IS NULL OR stock_type IN ('A', 'B', 'C', 'H', 'M', 'T')),
    CONSTRAINT vehicle_images_chk CHECK (jsonb_typeof(images) = 'array'),
    CONSTRAINT vehicle_features_chk CHECK (features IS NULL OR jsonb_typeof(features) = 'array'),
    CONSTRAINT vehicle_vin_chk CHECK (easycars_vin IS NULL OR easycars_vin ~ '^[A-HJ-NPR-Z0-9]{1,17}$'),
    CONSTRAINT vehicle_removed_chk CHECK (status <> 'removed' OR removed_from_easycars_at IS NOT NULL)
);
-- The wide columns compress with lz4 where the server has it: about as compact as the default
-- pglz and several times cheaper to write (pglz took a seventh of a 100,000-vehicle first sync).
DO $$
BEGIN
    ALTER TABLE easycars.vehicle
        ALTER COLUMN easycars_raw_data SET COMPRESSION lz4,
        ALTER COLUMN description SET COMPRESSION lz4,
        ALTER COLUMN images SET COMPRESSION lz4,
        ALTER COLUMN features SET COMPRESSION lz4,
        ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL; -- a server built without lz4 keeps pglz
END
$$;
COMMENT ON TABLE easycars.vehicle IS
    'Vehicles of each dealership. data_source says where a row came from: Manual and Import rows are never overwritten by a sync; EasyCars rows are upserted by easycars.sync_stock() keyed on (dealership_id, easycars_stock_number).';
COMMENT ON COLUMN easycars.vehicle.price IS 'Advertised price in AUD (EasyCars Price); NULL when EasyCars has none.';
COMMENT ON COLUMN easycars.vehicle.mileage IS 'Odometer reading in the unit given by odometer_in_miles (EasyCars Odometer, IsMiles).';
COMMENT ON COLUMN easycars.vehicle.status IS 'Listing status: active, pending, sold, draft, or removed (vanished from the EasyCars feed; see removed_from_easycars_at).';
COMMENT ON COLUMN easycars.vehicle.condition IS 'new, used or demo (from EasyCars IsUsed / IsDemo).';
COMMENT ON COLUMN easycars.vehicle.images IS 'JSON array of image URLs, in EasyCars order.';
COMMENT ON COLUMN easycars.vehicle.easycars_stock_number IS 'EasyCars StockNumber: the vehicle''s identity within its dealership.';
COMMENT ON COLUMN easycars.vehicle.easycars_yard_code IS 'EasyCars YardCode of the yard holding the vehicle.';
COMMENT ON COLUMN easycars.vehicle.easycars_vin IS 'VIN as given by EasyCars, trimmed; NULL when EasyCars sends "".';
COMMENT ON COLUMN easycars.vehicle.easycars_raw_data IS 'The EasyCars stock item exactly as received (all 72 fields).';
COMMENT ON COLUMN easycars.vehicle.easycars_raw_md5 IS 'MD5 of the stock item''s JSON text as received; a sync rebuilds only items whose digest changed.';
COMMENT ON COLUMN easycars.vehicle.data_source IS 'Manual, EasyCars or Import.';
COMMENT ON COLUMN easycars.vehicle.last_synced_from_easycars IS 'When a sync last wrote this row from EasyCars.';
COMMENT ON COLUMN easycars.vehicle.features IS 'JSON array of StandardFeatures followed by OptionalFeatures.';
COMMENT ON COLUMN easycars.vehicle.stock_status IS 'EasyCars StockStatus as given (e.g. In Stock, On Offer, Sold).';
COMMENT ON COLUMN easycars.vehicle.stock_type IS 'EasyCars StockType: A car, B boat, C caravan/camper, H heavy truck/bus, M motorbike, T trailer.';
COMMENT ON COLUMN easycars.vehicle.engine_size_cc IS 'EasyCars EngineSize in cubic centimetres.';
COMMENT ON COLUMN easycars.vehicle.removed_from_easycars_at IS 'When a complete EasyCars feed first lacked this vehicle; cleared if it comes back.';
COMMENT ON COLUMN easycars.vehicle.search IS 'Full-text search vector over make, model, badge, series and description (English).';

CREATE INDEX vehicle_easycars_stock_idx ON easycars.vehicle (easycars_stock_number) WHERE easycars_stock_number IS NOT NULL;
CREATE INDEX vehicle_data_source_idx ON easycars.vehicle (data_source);
CREATE INDEX vehicle_easycars_vin_idx ON easycars.vehicle (dealership_id, easycars_vin) WHERE easycars_vin IS NOT NULL;
CREATE INDEX vehicle_dealership_data_source_idx ON easycars.vehicle (dealership_id, data_source);
CREATE INDEX vehicle_dealership_status_idx ON easycars.vehicle (dealership_id, status);
CREATE INDEX vehicle_search_idx ON easycars.vehicle USING gin (search);
-- Containment searches over what EasyCars sent (easycars_raw_data @> '{"Make": "Toyota"}'); the
-- cost of keeping it on a sync is measured in bench/RESULTS.md.
CREATE INDEX vehicle_raw_data_idx ON easycars.vehicle USING gin (easycars_raw_data jsonb_path_ops);
-- What analysts ask of a dealership's stock (seed 001): by make and model, price, year, newest.
CREATE INDEX vehicle_dealership_make_model_idx ON easycars.vehicle (dealership_id, make, model);
CREATE INDEX vehicle_dealership_price_idx ON easycars.vehicle (dealership_id, price);
CREATE INDEX vehicle_dealership_year_idx ON easycars.vehicle (dealership_id, year);
CREATE INDEX vehicle_dealership_created_idx ON easycars.vehicle (dealership_id, created_at DESC);

CREATE TRIGGER vehicle_touch_updated_at BEFORE UPDATE ON easycars.vehicle
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at();
