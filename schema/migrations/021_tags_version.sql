-- A per-repository counter that moves with every change to the repository's tags, in the same
-- transaction. metad workers keep tags/list answers and ask PostgreSQL only whether the counter
-- they were built at is still current: listing a thousand tags costs far more than that check.
-- Triggers cover every path that writes tags: pushes, deletes by the API or by cleanup policies,
-- and the cascades from manifests. Pushes write one tag at a time, and a push that changes no tag
-- (the same manifest again) should cost nothing: row triggers. Deletes come in thousands: one
-- statement trigger.

ALTER TABLE repositories ADD COLUMN tags_version bigint NOT NULL DEFAULT 0;
