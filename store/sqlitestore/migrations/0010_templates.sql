-- Templates: a lease records the template it was made under and the team
-- it counts for, so that a template's limits per owner and per team are
-- counted in the vend's own transaction (exact: SQLite has one writer).
ALTER TABLE leases ADD COLUMN template TEXT NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN team TEXT NOT NULL DEFAULT '';
CREATE INDEX leases_template_team_active ON leases (template, team) WHERE state = 'active';
