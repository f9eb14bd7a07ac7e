// The storage port: what the gateway needs from an object store, nothing more.
export interface ObjectStore {
  /** Resolves when the store answers; rejects with an UpstreamError otherwise. */
  ping(): Promise<void>;
}
