// The webhook port: what the detection module needs to call a client back when its task is
// finished. The adapter (webhook-sender.ts) decides which URLs may be called and signs the body.

export interface CallbackSender {
  /** Resolves when `url` may be called back; rejects with CallbackRefusedError otherwise. */
  check(url: string): Promise<void>;
  /** POSTs `body` (JSON) to `url`; rejects with CallbackRefusedError or CallbackFailedError. */
  send(url: string, body: string): Promise<void>;
}

/** The URL may not be called: its scheme, or an address it resolves to (SSRF guard). */
export class CallbackRefusedError extends Error {}

/** The receiver could not be reached, did not answer in time, or answered other than 2xx. */
export class CallbackFailedError extends Error {}
