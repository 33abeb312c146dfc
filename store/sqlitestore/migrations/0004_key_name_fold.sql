-- Key names are unique without regard to case: ADMIN and admin cannot both
-- exist. name_fold is the lower-cased name (names are ASCII), unique.
-- Keys made before this rule that differ only in case keep working: the
-- oldest keeps the folded name, each later one gets '#' and its id appended
-- (no name contains '#'), so no new key can take any of their names.
ALTER TABLE api_keys ADD COLUMN name_fold TEXT;
UPDATE api_keys SET name_fold = lower(name) || CASE WHEN EXISTS (
    SELECT 1 FROM api_keys AS older WHERE lower(older.name) = lower(api_keys.name) AND older.id < api_keys.id)
    THEN '#' || id ELSE '' END;
CREATE UNIQUE INDEX api_keys_name_fold ON api_keys (name_fold);
