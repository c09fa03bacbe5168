-- Stock scans build each item's jsonb in Rust (easycars-jsonb) instead of a second parse through
-- jsonb_in. It must be exactly what jsonb_in builds, byte for byte: on every simulator item, on
-- thousands of generated numbers and on documents chosen for the format's corners.
BEGIN;
SELECT plan(9);
\ir _fixtures.psql

\ir _sim_dealers.psql
CREATE SERVER ec1 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1');
CREATE FOREIGN TABLE pg_temp_stock_text (stock_number text, raw text) SERVER ec1 OPTIONS (entity 'stock');
CREATE FOREIGN TABLE pg_temp_stock_jsonb (stock_number text, raw jsonb) SERVER ec1 OPTIONS (entity 'stock');
CREATE FUNCTION pg_temp.differing(docs text[]) RETURNS text[] LANGUAGE sql AS $$
    SELECT coalesce(array_agg(d || ' -> ' || easycars._jsonb_encoder_check(d)) FILTER (WHERE easycars._jsonb_encoder_check(d) <> 'same'), '{}')
    FROM unnest(docs) d $$;

-- Every item the simulator serves, as received.
SELECT is(pg_temp.differing(ARRAY(SELECT raw FROM pg_temp_stock_text)), '{}', 'every simulator stock item encodes byte for byte as jsonb_in');
SELECT ok((SELECT count(*) > 0 AND bool_and(j.raw = t.raw::jsonb AND j.raw::text = t.raw::jsonb::text AND pg_column_size(j.raw) = pg_column_size(t.raw::jsonb))
           FROM pg_temp_stock_jsonb j JOIN pg_temp_stock_text t USING (stock_number)),
          'the stock table''s raw column is the item''s jsonb: same value, text and size');

-- Items with values the generator does not make: unicode, escapes, nested objects, extreme numbers.
SELECT easycars_test.sim('POST', '/_sim/stock/' || (SELECT account_number FROM d1) || '/change',
    jsonb_build_object('stock_number', (SELECT min(stock_number) FROM pg_temp_stock_text),
                       'fields', '{"Badge": "Ün\"ic\\ode 🚗 \u00e9", "Price": 1e-7, "Odometer": -0.0, "Extra": {"b": [1, {"z": null}], "a": 12345678901234567890.5}}'::jsonb))
    IS NOT NULL AS changed \g /dev/null
SELECT is(pg_temp.differing(ARRAY(SELECT raw FROM pg_temp_stock_text)), '{}', 'so do items with unicode, escapes, nested objects and extreme numbers');

-- Numbers: sign, integer digits, fraction digits and exponent drawn at random (a fixed seed).
SELECT setseed(0.4242) \g /dev/null
CREATE TEMP TABLE numbers AS
SELECT (CASE WHEN random() < 0.3 THEN '-' ELSE '' END)
    || CASE WHEN random() < 0.25 THEN '0' ELSE (1 + floor(random() * 9))::int::text || left(translate(md5(i::text), 'abcdef', '012345'), floor(random() * 30)::int) END
    || CASE WHEN random() < 0.6 THEN '.' || left(translate(md5((-i)::text), 'abcdef', '987654') || repeat('0', 8), 1 + floor(random() * 38)::int) ELSE '' END
    || CASE WHEN random() < 0.35 THEN (ARRAY['e', 'E'])[1 + floor(random() * 2)::int] || (ARRAY['', '+', '-'])[1 + floor(random() * 3)::int] || floor(random() * 300)::int ELSE '' END AS n
FROM generate_series(1, 5000) i;
SELECT is(pg_temp.differing(ARRAY(SELECT n FROM numbers)), '{}', '5,000 random numbers encode as numeric_in makes them (top-level scalars)');
SELECT is(pg_temp.differing(ARRAY(SELECT '{"n": ' || n || '}' FROM numbers)), '{}', 'and as object values');
SELECT is(pg_temp.differing(ARRAY['[' || (SELECT string_agg(n, ',') FROM numbers) || ']']), '{}',
          'and as one array of 5,000 (offsets every 32 entries, alignment padding)');
SELECT is(pg_temp.differing(ARRAY['0', '-0', '0.000', '-0.0e5', '1E+2', '1e-2', '10000', '9999.9999', '-10000.00001', '0.0001', '100000000',
                                  '123456789012345678901234567890', '0.000000000000000000000000001', '1e63', '1e64', '1e252', '1e256', '1e-260',
                                  '5e-300', '1.5e300', '1e100000']), '{}',
          'numbers at the short/long header and weight boundaries');

-- Containers and strings.
SELECT is(pg_temp.differing(ARRAY['{}', '[]', '""', '"x"', 'null', 'true', 'false', '[[], [{}], {"": []}]', '{"a": 1, "a": 2}',
    '{"b": 1, "a": 2, "aa": 3, "ab": 4, "": 5, "ba": 6, "a": 7}', '{"k": "\"\\\/\b\f\n\r\t"}', '"\u00e9\u4e2d\ud83d\ude97"', '"é中🚗"',
    '[1, "two", 3.0, true, null, {"six": [7]}]', ' { "spaced" : [ 1 , 2 ] } ',
    repeat('[', 100) || repeat(']', 100), '"' || repeat('long ', 20000) || '"',
    '{' || (SELECT string_agg(format('"k%s": %s', i, i), ', ') FROM generate_series(1, 1000) i) || '}',
    '[' || (SELECT string_agg(format('{"i": %s, "s": "%s"}', i, repeat('x', i % 7)), ', ') FROM generate_series(1, 100) i) || ']']), '{}',
    'containers, key order and repeats, escapes, unicode, deep nesting, long strings, 1,000 keys');
SELECT is(easycars._jsonb_encoder_check('[1e200000]'), 'fallback', 'a number numeric cannot hold is left to jsonb_in (and its error)');

SELECT * FROM finish();
ROLLBACK;
