// CORS for the configured origins (CORS_ORIGINS), so a page served elsewhere can call the API.
// Exact origins only, no credentials (the API key is a header the page sends itself). Without
// origins configured this adds nothing at all; an origin not listed gets no CORS headers.
import type { RequestHandler } from 'express';

/** Headers a page may send besides the simple ones: the body's type, and the API's own. */
const ALLOWED_HEADERS = 'Content-Type, Idempotency-Key, X-API-Key, X-Request-Id';
/** Headers a page may read: where to poll (202), when to retry (429), the id to quote. */
const EXPOSED_HEADERS = 'Location, Retry-After, X-Request-Id';
/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours). */
const MAX_AGE_S = '600';

export function cors(origins: readonly string[] | undefined): RequestHandler {
  if (!origins?.length) return (_req, _res, next) => next();
  const allowed = new Set(origins);
  return (req, res, next) => {
    // The answer differs by Origin, so a shared cache must not hand one origin's to another.
    res.vary('Origin');
    const origin = req.get('origin');
    if (origin === undefined || !allowed.has(origin)) return next();
    res.setHeader('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method') !== undefined) {
      // A preflight: answered here, before the API key (browsers never send it on a preflight).
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', MAX_AGE_S);
      res.status(204).end();
      return;
    }
    res.setHeader('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
