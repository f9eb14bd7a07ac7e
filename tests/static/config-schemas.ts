// The settings each component reads, taken from the schemas themselves so that these checks
// follow every key added to them: the gateway's and the CLI's zod schemas, the Python side's
// pydantic Settings classes, and the native stack's schema.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import type { z } from 'zod';
import { cliEnvSchema } from '../../cli/src/lib/config.js';
import { configSchema } from '../../gateway/src/config.js';
import { loadStackConfig, repoRoot } from '../../scripts/stack/config.js';

export interface Setting {
  /** The environment variable. */
  name: string;
  /** No default: the process refuses to start without it. */
  required: boolean;
  /** The default as text, where there is one. */
  fallback?: string;
}

export type Schema = Map<string, Setting>;

function schemaOf(settings: Setting[]): Schema {
  return new Map(settings.map((setting) => [setting.name, setting]));
}

/** The settings of a zod object schema: a field that parses `undefined` has a default (or none). */
function zodSchema(shape: Record<string, z.ZodType>): Schema {
  return schemaOf(
    Object.entries(shape).map(([name, field]) => {
      const unset = field.safeParse(undefined);
      return unset.success
        ? { name, required: false, fallback: unset.data === undefined ? undefined : String(unset.data) }
        : { name, required: true };
    }),
  );
}

export function gatewaySchema(): Schema {
  return zodSchema(configSchema.shape);
}

/** The CLI's settings (cli/src/lib/config.ts); defaults as the CLI uses them, after any transform. */
export function cliSchema(): Schema {
  return zodSchema(cliEnvSchema.shape);
}

/** The native stack's settings; all have defaults, so parsing an empty environment lists them. */
export function stackSchema(): Schema {
  return schemaOf(
    Object.entries(loadStackConfig({})).map(([name, value]) => ({
      name,
      required: false,
      fallback: String(value),
    })),
  );
}

// Every pydantic-settings class of mini_streamio.settings, with the variable each field reads:
// its validation alias where it has one, else the field name (case-insensitive, upper-cased
// here) behind the class's env_prefix.
const pythonSettingsScript = `
import json
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings
import mini_streamio.settings as module

def names(cls, field_name, field):
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    return [cls.model_config.get("env_prefix", "") + field_name]

def text(value):
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)

settings = []
for cls in vars(module).values():
    if isinstance(cls, type) and issubclass(cls, BaseSettings) and cls.__module__ == module.__name__:
        for field_name, field in cls.model_fields.items():
            for name in names(cls, field_name, field):
                setting = {"name": name.upper(), "required": field.is_required()}
                default = None if field.is_required() else field.get_default(call_default_factory=True)
                if default is not None:  # a default of None: unset, as in the zod schemas
                    setting["fallback"] = text(default)
                settings.append(setting)
print(json.dumps(settings))
`;

export function pythonSchema(): Schema {
  return schemaOf(JSON.parse(runPython(pythonSettingsScript)) as Setting[]);
}

/** Which of these names the installed MLflow declares in mlflow.environment_variables. */
export function mlflowVariables(names: string[]): string[] {
  const script = `
import json, sys
import mlflow.environment_variables as variables
print(json.dumps([name for name in json.loads(sys.argv[1]) if hasattr(variables, name)]))
`;
  return JSON.parse(runPython(script, JSON.stringify(names))) as string[];
}

function runPython(script: string, ...args: string[]): string {
  const result = spawnSync(path.join(repoRoot, '.stack/python'), ['-c', script, ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`python failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}
