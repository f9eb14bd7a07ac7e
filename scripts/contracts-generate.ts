// Writes cli/src/lib/contracts.generated.ts: the trainer's event names and exit statuses and the
// registry's tag names, prefix and alias, taken from contracts/*.schema.json (their only copy) as
// `as const` values with their literal types, which a JSON import cannot give TypeScript.
//
//   npm run contracts:generate        (node --import tsx scripts/contracts-generate.ts)
//
// contracts/test/generated.unit.test.ts fails when the file differs from what this writes, so a
// contract change without a regeneration does not go unnoticed.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const contractsDir = path.join(repoRoot, 'contracts');
export const generatedPath = path.join(repoRoot, 'cli/src/lib/contracts.generated.ts');

const LINE_WIDTH = 110; // biome.json

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function readSchema(name: string): JsonObject {
  return JSON.parse(fs.readFileSync(path.join(contractsDir, `${name}.schema.json`), 'utf8'));
}

function objectAt(value: Json | undefined, where: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`${where} is not an object`);
  return value;
}

function stringsAt(value: Json | undefined, where: string): string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string'))
    throw new Error(`${where} is not a list of strings`);
  return value as string[];
}

/** The literal a pattern such as `^metric\.` requires at the start of a name: `metric.`. */
export function literalPrefix(pattern: string): string {
  const match = /^\^((?:[A-Za-z0-9_-]|\\[.\-/])+)$/.exec(pattern);
  if (!match?.[1]) throw new Error(`${pattern} is not ^ followed by literal characters`);
  return match[1].replace(/\\(.)/g, '$1');
}

export interface GeneratedContracts {
  trainerEventNames: string[];
  trainerExitCodes: Record<string, number>;
  registryTagNames: string[];
  registryMetricTagPrefix: string;
  productionAlias: string;
}

/** The values, from the schemas; an error names what is not where this script expects it. */
export function readContracts(): GeneratedContracts {
  const event = readSchema('trainer-event');
  const trainerEventNames = stringsAt(
    objectAt(objectAt(event.properties, 'trainer-event properties').event, 'trainer-event properties.event')
      .enum,
    'trainer-event properties.event.enum',
  );

  const exit = readSchema('trainer-exit-codes');
  const trainerExitCodes: Record<string, number> = {};
  for (const [name, spec] of Object.entries(objectAt(exit.properties, 'trainer-exit-codes properties'))) {
    const code = objectAt(spec, `trainer-exit-codes ${name}`).const;
    if (typeof code !== 'number' || !Number.isInteger(code))
      throw new Error(`trainer-exit-codes ${name}.const is not an integer`);
    trainerExitCodes[name] = code;
  }

  const tags = readSchema('registry-tags');
  const registryTagNames = Object.keys(objectAt(tags.properties, 'registry-tags properties'));
  const patterns = Object.keys(objectAt(tags.patternProperties, 'registry-tags patternProperties'));
  if (patterns.length !== 1 || !patterns[0])
    throw new Error(`registry-tags has ${patterns.length} patternProperties; one (the metric tags) expected`);
  const registryMetricTagPrefix = literalPrefix(patterns[0]);
  const alias = objectAt(
    objectAt(tags.$defs, 'registry-tags $defs').production_alias,
    'registry-tags $defs.production_alias',
  ).const;
  if (typeof alias !== 'string')
    throw new Error('registry-tags $defs.production_alias.const is not a string');

  return {
    trainerEventNames,
    trainerExitCodes,
    registryTagNames,
    registryMetricTagPrefix,
    productionAlias: alias,
  };
}

const quote = (text: string) => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const key = (name: string) => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : quote(name));

/** `export const NAME = [...] as const;` on one line when it fits, else one item a line (as biome formats it). */
function constList(name: string, items: string[]): string {
  const oneLine = `export const ${name} = [${items.map(quote).join(', ')}] as const;`;
  if (oneLine.length <= LINE_WIDTH) return oneLine;
  return [`export const ${name} = [`, ...items.map((item) => `  ${quote(item)},`), '] as const;'].join('\n');
}

function constRecord(name: string, entries: Record<string, number>): string {
  return [
    `export const ${name} = {`,
    ...Object.entries(entries).map(([k, v]) => `  ${key(k)}: ${v},`),
    '} as const;',
  ].join('\n');
}

/** The text of cli/src/lib/contracts.generated.ts. */
export function renderContracts(values: GeneratedContracts = readContracts()): string {
  return [
    '// Generated from contracts/*.schema.json by `npm run contracts:generate` (scripts/contracts-generate.ts):',
    '// do not edit. contracts/test/generated.unit.test.ts fails when it differs from the schemas.',
    '',
    '/** The events the trainer prints, in their contract’s order (trainer-event.schema.json). */',
    constList('TRAINER_EVENT_NAMES', values.trainerEventNames),
    'export type TrainerEventName = (typeof TRAINER_EVENT_NAMES)[number];',
    '',
    '/** How the trainer exits (trainer-exit-codes.schema.json); `train` exits with the same status. */',
    constRecord('TRAINER_EXIT_CODES', values.trainerExitCodes),
    '',
    '/** The tags of a registered model version that the contract names (registry-tags.schema.json). */',
    constList('REGISTRY_TAG_NAMES', values.registryTagNames),
    'export type RegistryTagName = (typeof REGISTRY_TAG_NAMES)[number];',
    '',
    '/** What the names of a version’s metric tags start with, as in metric.mAP50 (its patternProperties). */',
    `export const REGISTRY_METRIC_TAG_PREFIX = ${quote(values.registryMetricTagPrefix)};`,
    '',
    '/** The registry alias the inference service loads; `model promote` sets it by default. */',
    `export const PRODUCTION_ALIAS = ${quote(values.productionAlias)};`,
    '',
  ].join('\n');
}

function main(): void {
  const text = renderContracts();
  const relative = path.relative(repoRoot, generatedPath);
  if (fs.existsSync(generatedPath) && fs.readFileSync(generatedPath, 'utf8') === text) {
    console.log(`${relative} is up to date`);
    return;
  }
  fs.writeFileSync(generatedPath, text);
  console.log(`${relative} written`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
