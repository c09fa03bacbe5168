-- Cached previews of what a sync would change, kept for a short TTL.

CREATE TABLE easycars.sync_preview_cache (
    id            uuid         NOT NULL DEFAULT gen_random_uuid(),
    dealership_id integer      NOT NULL,
    entity_type   easycars.sync_entity NOT NULL,
    sync_id       varchar(255),
    delta_json    jsonb        NOT NULL DEFAULT '{}',
    computed_at   timestamptz  NOT NULL DEFAULT now(),
    expires_at    timestamptz  NOT NULL DEFAULT now() + interval '1 hour',
    computed_by   text         DEFAULT current_user,
    cache_key     varchar(255),
    created_at    timestamptz  NOT NULL DEFAULT now(),
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT sync_preview_cache_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT sync_preview_cache_key_key UNIQUE (dealership_id, cache_key),
    CONSTRAINT sync_preview_cache_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    -- The seed's CHECK (expires_at > now()) is not a valid constraint: it breaks restores and any
    -- update after expiry. Only the immutable half stays; expiry is enforced by cleanup.
    CONSTRAINT sync_preview_cache_ttl_chk CHECK (expires_at > computed_at),
    CONSTRAINT sync_preview_cache_delta_chk CHECK (jsonb_typeof(delta_json) = 'object')
);
COMMENT ON TABLE easycars.sync_preview_cache IS
    'What a sync would create, update or remove (easycars.preview_stock_sync()), cached until expires_at. Expired rows are deleted by easycars.cleanup_preview_cache(); readers should filter on expires_at > now().';
COMMENT ON COLUMN easycars.sync_preview_cache.delta_json IS 'The preview: {"create": [...], "update": [...], "remove": [...], "counts": {...}}.';
COMMENT ON COLUMN easycars.sync_preview_cache.expires_at IS 'When the preview stops being valid (default one hour after computing).';
COMMENT ON COLUMN easycars.sync_preview_cache.cache_key IS 'Optional key to replace a previous preview of the same request.';

CREATE INDEX sync_preview_cache_type_idx ON easycars.sync_preview_cache (dealership_id, entity_type);
CREATE INDEX sync_preview_cache_expires_idx ON easycars.sync_preview_cache (expires_at);
CREATE INDEX sync_preview_cache_computed_idx ON easycars.sync_preview_cache (computed_at DESC);

CREATE TRIGGER sync_preview_cache_touch_updated_at BEFORE UPDATE ON easycars.sync_preview_cache
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at();
