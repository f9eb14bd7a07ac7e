// Gateway settings, parsed once at start; a bad value stops the process with a message
// naming the variable. Names are shared with the native stack, the Python side and compose.
import { z } from 'zod';

const MiB = 1024 * 1024;

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
// S3 bucket naming rules (lower case, digits, dots, hyphens; 3–63 characters).
const bucketName = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'not a valid bucket name')
    .default(fallback);

/** An origin as browsers send it: scheme, host and port only, lower case, no default port. */
const isOrigin = (value: string): boolean => {
  try {
    const url = new URL(value);
    return ['http:', 'https:'].includes(url.protocol) && url.origin === value;
  } catch {
    return false;
  }
};
// Comma-separated origins; unset or empty is none (then no CORS headers at all).
const originList = z.preprocess(
  (v) => (v === '' ? undefined : v),
  z
    .string()
    .transform((v) => v.split(',').map((origin) => origin.trim()))
    .superRefine((origins, ctx) => {
      for (const origin of origins.filter((o) => !isOrigin(o)))
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(origin)} is not an origin like https://host[:port] (lower case; no path, trailing slash or default port)`,
        });
    })
    .optional(),
);

export const configSchema = z.object({
  BIND_HOST: z.string().min(1).default('127.0.0.1'),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MINIO_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  MINIO_ACCESS_KEY: z.string().min(3).default('mini-streamio'),
  MINIO_SECRET_KEY: z.string().min(8).default('mini-streamio-secret'),
  MINIO_REGION: z.string().min(1).default('us-east-1'),
  BENTOML_URL: z.url().default('http://127.0.0.1:3000'),
  /** Several BentoML replicas, comma-separated URLs (instead of BENTOML_URL). */
  BENTOML_URLS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() ? v.split(',').map((u) => u.trim()) : undefined),
    z.array(z.url()).min(1).optional(),
  ),
  /** host:port whose every A/AAAA record is a BentoML replica (a headless Kubernetes Service). */
  BENTOML_DNS: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z
      .string()
      .regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'expected host:port, e.g. bento-headless:3000')
      .optional(),
  ),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** When set, /image/detect requires this value in the X-API-Key header. Empty means unset. */
  API_KEY: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(8).optional()),
  /** Browser origins allowed to call the API from their pages (CORS); unset allows none. */
  CORS_ORIGINS: originList,
  /** HMAC key of webhooks' X-Signature; unset: POST refuses callback_url. Empty means unset. */
  CALLBACK_SECRET: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(16).optional()),
  /** Hosts webhooks may reach over http and at private addresses (comma-separated names). */
  CALLBACK_ALLOWED_HOSTS: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() ? v.split(',').map((h) => h.trim()) : undefined),
    z.array(z.string().regex(/^[A-Za-z0-9.:-]+$/, 'expected host names')).optional(),
  ),
  /** Deliveries of one webhook before it is given up (back-off 1 s, doubling, up to 60 s). */
  CALLBACK_MAX_ATTEMPTS: positiveInt(5),
  /** Largest accepted upload. */
  MAX_IMAGE_BYTES: positiveInt(10 * MiB),
  /** Decompression-bomb guard: width × height above this is refused before anything decodes it. */
  MAX_IMAGE_PIXELS: positiveInt(50_000_000),
  /** Tasks not yet completed or failed (all gateways together) above which POST answers 429. */
  MAX_QUEUE_DEPTH: positiveInt(1000),
  /** How often the reconciler moves tasks forward. */
  RECONCILE_INTERVAL_MS: positiveInt(500),
  /** A task BentoML still reports in progress after this long is submitted again. */
  TASK_TIMEOUT_MS: positiveInt(5 * 60_000),
  /** Submissions to BentoML per task before it is marked failed. */
  MAX_ATTEMPTS: positiveInt(3),
  /** Timeout of one HTTP call to BentoML. */
  BENTOML_TIMEOUT_MS: positiveInt(10_000),
  /**
   * Days MinIO keeps a task's image and record after their last change, then deletes them (a
   * lifecycle rule on IMAGES_BUCKET and TASKS_BUCKET, replacing any rules there); 0 keeps them for
   * ever and leaves the buckets' rules alone.
   */
  TASK_RETENTION_DAYS: z.coerce.number().int().min(0).default(30),
  /**
   * A SQLite file for the task records and the pending index instead of TASKS_BUCKET (images stay
   * in MinIO): far cheaper per task, for the gateways of one host only. Empty means unset.
   */
  TASK_DB: z.preprocess((v) => (v === '' ? undefined : v), z.string().min(1).optional()),
  IMAGES_BUCKET: bucketName('images'),
  TASKS_BUCKET: bucketName('tasks'),
});

export type Config = z.infer<typeof configSchema>;

const configChecks = configSchema.refine((c) => !(c.BENTOML_URLS && c.BENTOML_DNS), {
  path: ['BENTOML_DNS'],
  message: 'set BENTOML_URLS or BENTOML_DNS, not both',
});

export class ConfigError extends Error {}

/** Settings whose values never appear in an error. */
const SECRETS = new Set(['API_KEY', 'MINIO_SECRET_KEY', 'CALLBACK_SECRET']);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configChecks.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    // Never echo a secret back into logs.
    const shown = SECRETS.has(name) ? '(hidden)' : JSON.stringify(env[name]);
    return `  ${name}=${shown}: ${issue.message}`;
  });
  throw new ConfigError(`invalid setting(s):\n${problems.join('\n')}`);
}
