// Settings of the native development stack, read once from the environment.
// The names are the ones the gateway (zod) and the Python side (pydantic-settings)
// read too, so one .env file configures every process and docker-compose alike.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);

const stackEnvSchema = z.object({
  BIND_HOST: z.string().min(1).default('127.0.0.1'),
  GATEWAY_PORT: port(8080),
  BENTOML_PORT: port(3000),
  MINIO_PORT: port(9000),
  MINIO_CONSOLE_PORT: port(9001),
  MLFLOW_PORT: port(5000),
  MINIO_ACCESS_KEY: z.string().min(3).default('mini-streamio'),
  MINIO_SECRET_KEY: z.string().min(8).default('mini-streamio-secret'),
  MINI_STREAMIO_DATA_DIR: z.string().min(1).default(path.join(repoRoot, '.data')),
});

export type StackConfig = z.infer<typeof stackEnvSchema>;

export class ConfigError extends Error {}

/** Parses the stack settings; the error names every bad setting and its value. */
export function loadStackConfig(env: NodeJS.ProcessEnv = process.env): StackConfig {
  const parsed = stackEnvSchema.safeParse(env);
  if (parsed.success)
    return { ...parsed.data, MINI_STREAMIO_DATA_DIR: path.resolve(parsed.data.MINI_STREAMIO_DATA_DIR) };
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return `  ${name}=${JSON.stringify(env[name])}: ${issue.message}`;
  });
  throw new ConfigError(`invalid setting${problems.length > 1 ? 's' : ''}:\n${problems.join('\n')}`);
}
