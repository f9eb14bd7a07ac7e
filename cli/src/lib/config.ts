// CLI settings from the environment, with the same names as every other component.
import path from 'node:path';
import { z } from 'zod';
import { repoRoot } from './paths.js';

export const cliEnvSchema = z.object({
  MINIO_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  MINIO_ACCESS_KEY: z.string().min(3).default('mini-streamio'),
  MINIO_SECRET_KEY: z.string().min(8).default('mini-streamio-secret'),
  MINIO_REGION: z.string().min(1).default('us-east-1'),
  MLFLOW_TRACKING_URI: z.url().default('http://127.0.0.1:5000'),
  GATEWAY_URL: z.url().default('http://127.0.0.1:8080'),
  API_KEY: z.string().optional(),
  MINI_STREAMIO_DATA_DIR: z.string().min(1).default(path.join(repoRoot, '.data')),
  // Same names and defaults as the Python settings (bento/src/mini_streamio/settings.py).
  DATASETS_BUCKET: z.string().min(3).default('datasets'),
  MODELS_BUCKET: z.string().min(3).default('models'),
  REGISTERED_MODEL_NAME: z.string().min(1).default('mini-streamio-detector'),
  // Whether the trainer may download Ultralytics weights; never decided by probing the network.
  MINI_STREAMIO_ALLOW_DOWNLOADS: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default('false')
    .transform((value) => ['true', '1', 'yes'].includes(value)),
});

export type CliConfig = z.infer<typeof cliEnvSchema>;

/** Parses the CLI's settings; throws an Error whose message names each bad variable. */
export function loadCliConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  const parsed = cliEnvSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (i) => `${String(i.path[0])}=${JSON.stringify(env[String(i.path[0])])}: ${i.message}`,
  );
  throw new Error(`invalid setting(s): ${problems.join('; ')}`);
}
