// Optional API key: when API_KEY is configured, requests must carry it in X-API-Key.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { AppError } from './errors.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

export function requireApiKey(apiKey: string | undefined): RequestHandler {
  if (!apiKey) return (_req, _res, next) => next();
  const expected = digest(apiKey);
  return (req, _res, next) => {
    const given = req.get('x-api-key');
    if (given === undefined) throw new AppError(401, 'unauthorized', 'the X-API-Key header is missing');
    // Compare digests in constant time: the key's content must not leak through timing.
    if (!timingSafeEqual(digest(given), expected))
      throw new AppError(401, 'unauthorized', 'the X-API-Key header is wrong');
    next();
  };
}
