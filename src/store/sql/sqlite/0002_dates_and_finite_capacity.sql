-- ativo-backup store, schema version 2 (SQLite): refuse what version 1 let in and no archive can
-- carry.
--
-- Version 1 kept dates as free TEXT and capacity as any non-negative double, +infinity included:
-- a hand edit (or another writer) could store `2026-02-30`, `1 March` or `inf`, and export of
-- such a store then failed (exit 7), leaving no backup. These triggers refuse such writes the way
-- a CHECK would (SQLite adds a CHECK to a table only by rebuilding it). Rows written before this
-- migration are left as they are; export names such a row if there is one (exit 7).
--
-- A date is `YYYY-MM-DD` and exists (SPEC.md): the '+0 days' modifier normalises a day that does
-- not exist (`2026-02-30` becomes `2026-03-02`), so a date is valid when it comes back unchanged.

CREATE TRIGGER sprint_dates_insert BEFORE INSERT ON sprint
WHEN NOT (NEW.start_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
          AND date(NEW.start_date, '+0 days') IS NEW.start_date
          AND NEW.end_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
          AND date(NEW.end_date, '+0 days') IS NEW.end_date)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: sprint dates must exist and be written YYYY-MM-DD');
END;

CREATE TRIGGER sprint_dates_update BEFORE UPDATE OF start_date, end_date ON sprint
WHEN NOT (NEW.start_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
          AND date(NEW.start_date, '+0 days') IS NEW.start_date
          AND NEW.end_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
          AND date(NEW.end_date, '+0 days') IS NEW.end_date)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: sprint dates must exist and be written YYYY-MM-DD');
END;

CREATE TRIGGER milestone_date_insert BEFORE INSERT ON milestone
WHEN NEW.on_date IS NOT NULL
     AND NOT (NEW.on_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
              AND date(NEW.on_date, '+0 days') IS NEW.on_date)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: milestone.on_date must exist and be written YYYY-MM-DD');
END;

CREATE TRIGGER milestone_date_update BEFORE UPDATE OF on_date ON milestone
WHEN NEW.on_date IS NOT NULL
     AND NOT (NEW.on_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'
              AND date(NEW.on_date, '+0 days') IS NEW.on_date)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: milestone.on_date must exist and be written YYYY-MM-DD');
END;

-- The largest finite double: +infinity is above it (NaN never gets here: SQLite stores it as NULL).
CREATE TRIGGER capacity_finite_insert BEFORE INSERT ON capacity
WHEN NOT (NEW.value <= 1.7976931348623157e308)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: capacity.value must be a finite number');
END;

CREATE TRIGGER capacity_finite_update BEFORE UPDATE OF value ON capacity
WHEN NOT (NEW.value <= 1.7976931348623157e308)
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: capacity.value must be a finite number');
END;
