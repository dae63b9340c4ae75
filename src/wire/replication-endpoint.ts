/**
 * What regions and the proxy agree on about carrying envelopes, defined once for both
 * sides (docs/spec/replication.md §5.1, §10): where a region receives them (`POST` to
 * {@link REPLICATION_PATH} on its replication listener, a port of its own that only the
 * proxy needs to reach; the public KMS port does not serve it), the envelope format's
 * version and its size limit.
 *
 * @module
 */
export const REPLICATION_PATH = '/replication/v1/envelopes'
export const ENVELOPE_VERSION = 1
export const MAX_ENVELOPE_BYTES = 1024 * 1024
