// Gateway settings, parsed once at start; a bad value stops the process with a message
// naming the variable. Names are shared with the native stack, the Python side and compose.
import { z } from 'zod';

export const configSchema = z.object({
  BIND_HOST: z.string().min(1).default('127.0.0.1'),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MINIO_ENDPOINT: z.url().default('http://127.0.0.1:9000'),
  MINIO_ACCESS_KEY: z.string().min(3).default('mini-streamio'),
  MINIO_SECRET_KEY: z.string().min(8).default('mini-streamio-secret'),
  MINIO_REGION: z.string().min(1).default('us-east-1'),
  BENTOML_URL: z.url().default('http://127.0.0.1:3000'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof configSchema>;

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return `  ${name}=${JSON.stringify(env[name])}: ${issue.message}`;
  });
  throw new ConfigError(`invalid setting(s):\n${problems.join('\n')}`);
}
