-- authd: OAuth refresh tokens (exchanged once, then revoked with their access token, as
-- Doorkeeper rotates them) and revocation of OAuth access tokens.
ALTER TABLE oauth_access_tokens
    ADD COLUMN refresh_lookup text UNIQUE,
    ADD COLUMN refresh_hash text,
    ADD COLUMN revoked boolean NOT NULL DEFAULT false;
CREATE INDEX oauth_access_tokens_user_idx ON oauth_access_tokens (user_id);
