// Registered detector versions as the CLI shows them, read through MLflow's REST API.
// The tags are written by bento/src/mini_streamio/registry.py (register_weights); their format is
// contracts/registry-tags.schema.json.

import { UserError } from '../command.js';
import { REGISTRY_METRIC_TAG_PREFIX, type RegistryTagName } from '../contracts.js';
import { type MlflowClient, type ModelVersion, tagsOf } from '../mlflow.js';

export { PRODUCTION_ALIAS } from '../contracts.js';

/** The tags the contract names, typed by their generated names (a misspelt one does not compile). */
type VersionTags = Partial<Record<RegistryTagName, string>>;

export interface VersionSummary {
  name: string;
  version: string;
  aliases: string[];
  created_at: string;
  run_id: string | null;
  description: string;
  demo: boolean;
  weights_uri: string | null;
  dataset: string | null;
  metrics: Record<string, number>;
}

export function summarizeVersion(version: ModelVersion, aliases: string[]): VersionSummary {
  const all = tagsOf(version);
  const tags: VersionTags = all;
  const metrics: Record<string, number> = {};
  for (const [key, value] of Object.entries(all)) {
    if (key.startsWith(REGISTRY_METRIC_TAG_PREFIX))
      metrics[key.slice(REGISTRY_METRIC_TAG_PREFIX.length)] = Number(value);
  }
  return {
    name: version.name,
    version: String(version.version),
    aliases,
    created_at: new Date(Number(version.creation_timestamp)).toISOString(),
    run_id: version.run_id || null,
    description: version.description ?? '',
    demo: tags.demo === 'true',
    weights_uri: tags.weights_uri ?? null,
    dataset: tags.dataset ?? null,
    metrics,
  };
}

/** Every version of a registered model, newest first, with its aliases; [] if it does not exist. */
export async function listVersions(mlflow: MlflowClient, name: string): Promise<VersionSummary[]> {
  const model = await mlflow.getRegisteredModel(name);
  if (!model) return [];
  const aliases = new Map<string, string[]>();
  for (const { alias, version } of model.aliases ?? []) {
    aliases.set(String(version), [...(aliases.get(String(version)) ?? []), alias]);
  }
  const versions = await mlflow.searchModelVersions(name);
  return versions.map((v) => summarizeVersion(v, aliases.get(String(v.version)) ?? []));
}

/** Points `alias` at `version`; returns the version it pointed at before, if any. */
export async function promote(
  mlflow: MlflowClient,
  name: string,
  version: string,
  alias: string,
): Promise<{ previous: string | null }> {
  if (!/^[1-9]\d*$/.test(version))
    throw new UserError(`version must be a number (see \`model list\`), got ${version}`);
  const target = await mlflow.getModelVersion(name, version);
  if (!target) {
    const known = (await mlflow.searchModelVersions(name)).map((v) => v.version);
    throw new UserError(
      known.length > 0
        ? `${name} has no version ${version} (versions: ${known.join(', ')})`
        : `no registered model named ${name}`,
    );
  }
  const targetTags: VersionTags = tagsOf(target);
  if (!targetTags.weights_uri) {
    throw new UserError(
      `${name} version ${version} has no weights in MinIO (no weights_uri tag); it cannot serve`,
    );
  }
  const previous = await mlflow.getModelVersionByAlias(name, alias);
  await mlflow.setAlias(name, alias, version);
  return { previous: previous ? String(previous.version) : null };
}
