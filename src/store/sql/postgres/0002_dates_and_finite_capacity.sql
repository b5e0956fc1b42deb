-- ativo-backup store, schema version 2 (PostgreSQL): refuse what version 1 let in and no archive
-- can carry.
--
-- Version 1 kept dates as free TEXT and capacity as any non-negative double, 'Infinity'
-- included: a hand edit (or another writer) could store `2026-02-30` or `Infinity`, and export
-- of such a store then failed (exit 7), leaving no backup. The constraints are NOT VALID: they
-- hold for every row written from now on, and the rows already there are left as they are
-- (export names such a row if there is one, exit 7).
--
-- A date is `YYYY-MM-DD` and exists (SPEC.md), years 0000-9999 included: PostgreSQL's own date
-- type has no year 0, so the calendar rule is written out.

CREATE FUNCTION ativo_is_date(d text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE
    WHEN d !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' THEN false
    ELSE substr(d, 6, 2)::int BETWEEN 1 AND 12
         AND substr(d, 9, 2)::int BETWEEN 1 AND CASE substr(d, 6, 2)::int
             WHEN 2 THEN CASE WHEN (substr(d, 1, 4)::int % 4 = 0 AND substr(d, 1, 4)::int % 100 <> 0)
                                   OR substr(d, 1, 4)::int % 400 = 0 THEN 29 ELSE 28 END
             WHEN 4 THEN 30 WHEN 6 THEN 30 WHEN 9 THEN 30 WHEN 11 THEN 30
             ELSE 31 END
END;

ALTER TABLE sprint ADD CONSTRAINT sprint_dates_exist
    CHECK (ativo_is_date(start_date) AND ativo_is_date(end_date)) NOT VALID;
ALTER TABLE milestone ADD CONSTRAINT milestone_date_exists
    CHECK (on_date IS NULL OR ativo_is_date(on_date)) NOT VALID;
ALTER TABLE capacity ADD CONSTRAINT capacity_finite
    CHECK (value <> 'Infinity') NOT VALID;
