-- The schema's starting point; tenancy and registry tables follow in later migrations.
CREATE TABLE instance_settings (
    key text PRIMARY KEY,
    value text NOT NULL
);
