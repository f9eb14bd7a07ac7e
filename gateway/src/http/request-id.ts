// Request ids: the caller's X-Request-Id when it looks sane, else a new UUID; echoed back so a
// client can quote it, and attached to every log line of the request by pino-http.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const SANE = /^[\w.:-]{1,128}$/;

export function requestId(req: IncomingMessage, res: ServerResponse): string {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && SANE.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  return id;
}
