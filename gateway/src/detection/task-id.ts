// Task ids: random for plain requests; derived from the Idempotency-Key otherwise, so every
// gateway maps one key to one record key without asking anyone (RFC 9562 UUIDv5).
import { createHash, randomUUID } from 'node:crypto';

// The namespace of Mini Streamio idempotency keys (a fixed random UUID).
const IDEMPOTENCY_NAMESPACE = '3f1c9a52b7e44e0c9d6a1f08c2b5e7a4';

export function newTaskId(): string {
  return randomUUID();
}

export function taskIdForKey(idempotencyKey: string): string {
  return uuidV5(IDEMPOTENCY_NAMESPACE, idempotencyKey);
}

/** Name-based UUID (SHA-1) of `name` in the namespace given as 32 hex digits. */
export function uuidV5(namespaceHex: string, name: string): string {
  const hash = createHash('sha1').update(Buffer.from(namespaceHex, 'hex')).update(name, 'utf8').digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] as number) & 0x0f) | 0x50; // version 5
  bytes[8] = ((bytes[8] as number) & 0x3f) | 0x80; // RFC 9562 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
