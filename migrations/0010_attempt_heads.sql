-- webhookd schema, version 10: each attempt's request and answer, as sent
-- and received, for the dashboard's attempt view and "copy as curl".
-- request_head: "POST URL" and the request headers, one per line
-- (credentials in the URL and sensitive custom headers masked); the body is
-- the event's, so it is not stored again. response_head: the status line
-- and headers of the answer, at most 8 KiB.
ALTER TABLE attempts ADD COLUMN request_head TEXT;
ALTER TABLE attempts ADD COLUMN response_head TEXT;
