// The base of every mini-streamio command: settings read once, and failures of the services
// or of the user's input turned into one clear message (no stack trace) with exit status 1.
import { Command, Errors, type Interfaces } from '@oclif/core';
import { type CliConfig, loadCliConfig } from './config.js';
import { DatasetError } from './datasets/store.js';
import { MlflowError } from './mlflow.js';
import { RuleInputError } from './shared-rules.js';

/** An expected failure whose message is meant for the user as it is. */
export class UserError extends Error {}

export abstract class MiniStreamioCommand extends Command {
  private settings?: CliConfig;

  protected cliConfig(): CliConfig {
    if (!this.settings) {
      try {
        this.settings = loadCliConfig();
      } catch (err) {
        this.error((err as Error).message, { exit: 1 });
      }
    }
    return this.settings;
  }

  protected override async catch(err: Interfaces.CommandError): Promise<unknown> {
    if (err instanceof Errors.CLIError || 'oclif' in err) return super.catch(err);
    const message = describeError(err, this.settings);
    if (message) return super.catch(new Errors.CLIError(message, { exit: 1 }));
    return super.catch(err);
  }
}

/** The user-facing message for a known kind of failure; undefined for bugs (shown with their stack). */
export function describeError(err: unknown, config?: CliConfig): string | undefined {
  if (
    err instanceof UserError ||
    err instanceof DatasetError ||
    err instanceof MlflowError ||
    err instanceof RuleInputError
  )
    return err.message;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ECONNRESET') {
    const where = config ? ` at ${config.MINIO_ENDPOINT}` : '';
    return `cannot reach MinIO${where} (${code}); is the stack running? (npm run up)`;
  }
  const s3Code = (err as { code?: string } | undefined)?.code;
  if (err instanceof Error && err.constructor.name === 'S3Error') return `MinIO: ${s3Code}: ${err.message}`;
  return undefined;
}
