// Writes strict, standalone JSON schemas of the Kubernetes API kinds, for kubeconform, from the
// OpenAPI v3 spec that the Kubernetes source carries (api/openapi-spec/v3/*.json of the Go module
// k8s.io/kubernetes, which scripts/setup.sh fetches from the Go module proxy). kubeconform's own
// schemas come from GitHub, which this project does not download from.
//
//   node --import tsx scripts/k8s-schemas.ts <api/openapi-spec/v3 dir> <output dir>
//
// One file per group/version/kind, named as kubeconform's schema-location template
// `{{ .ResourceKind }}{{ .KindSuffix }}.json` expects (deployment-apps-v1.json, service-v1.json,
// horizontalpodautoscaler-autoscaling-v2.json). Each file stands alone: the definitions it
// reaches are copied into its `definitions` and referenced there (the recursive ones, such as a
// CRD's JSONSchemaProps, cannot be inlined). Strict: an object with declared properties allows no
// others, unless the spec says it preserves unknown fields. Null is allowed wherever a type is, as
// the API server treats a null field as unset.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

interface OpenApiDocument {
  components?: { schemas?: Record<string, JsonObject> };
}

const REF_PREFIX = '#/components/schemas/';
const isObject = (value: Json | undefined): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The apiVersion of a group/version: `v1` for the core group, else `group/version`. */
export const apiVersionOf = (gvk: GroupVersionKind) =>
  gvk.group ? `${gvk.group}/${gvk.version}` : gvk.version;

/** The file name kubeconform looks for: lower-case kind, first label of the group, version. */
export function fileNameOf(gvk: GroupVersionKind): string {
  const group = gvk.group.split('.')[0] as string;
  const suffix = gvk.group ? `-${group}-${gvk.version}` : `-${gvk.version}`;
  return `${gvk.kind.toLowerCase()}${suffix.toLowerCase()}.json`;
}

const withNull = (type: Json): Json => {
  const types = Array.isArray(type) ? type : [type];
  return types.includes('null') ? types : [...types, 'null'];
};

/**
 * One node of the OpenAPI schema as JSON Schema (draft 4, kubeconform's default): references
 * point into `definitions` (each name it reaches is added to `reached`), descriptions, defaults,
 * formats and the x-kubernetes-* annotations are dropped; `nullable` adds null to its type.
 */
export function convertNode(node: JsonObject, reached: Set<string>, nullable = true): JsonObject {
  const ref = node.$ref;
  if (typeof ref === 'string') {
    if (!ref.startsWith(REF_PREFIX)) throw new Error(`unexpected reference ${ref}`);
    const name = ref.slice(REF_PREFIX.length);
    reached.add(name);
    return { $ref: `#/definitions/${name}` };
  }
  // `allOf: [{$ref}]` is how the spec attaches a description or default to a reference.
  const allOf = node.allOf;
  if (Array.isArray(allOf) && allOf.length === 1 && isObject(allOf[0]) && !node.properties && !node.type)
    return convertNode(allOf[0], reached, nullable);

  const out: JsonObject = {};
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (node.type !== undefined) out.type = nullable ? withNull(node.type) : node.type;
  if (Array.isArray(node.enum)) out.enum = nullable ? [...node.enum, null] : node.enum;
  if (Array.isArray(node.required) && node.required.length > 0) out.required = node.required;
  for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
    const list = node[key];
    // The alternatives stay non-null: a null would match several of them, which oneOf forbids.
    if (Array.isArray(list))
      out[key] = list.map((item) => (isObject(item) ? convertNode(item, reached, false) : item));
  }
  if (isObject(node.not)) out.not = convertNode(node.not, reached);
  if (isObject(node.items)) out.items = convertNode(node.items, reached);
  if (isObject(node.properties)) {
    const properties: JsonObject = {};
    for (const [name, property] of Object.entries(node.properties))
      properties[name] = isObject(property) ? convertNode(property, reached) : property;
    out.properties = properties;
  }
  if (isObject(node.additionalProperties))
    out.additionalProperties = convertNode(node.additionalProperties, reached);
  else if (typeof node.additionalProperties === 'boolean')
    out.additionalProperties = node.additionalProperties;
  else if (isObject(node.properties) && !preserveUnknown) out.additionalProperties = false;
  for (const key of [
    'minimum',
    'maximum',
    'minLength',
    'maxLength',
    'pattern',
    'minItems',
    'maxItems',
  ] as const)
    if (node[key] !== undefined) out[key] = node[key];
  return out;
}

/** The standalone schema of one kind: its definition and every definition it reaches. */
export function standaloneSchema(
  definitions: Map<string, JsonObject>,
  name: string,
  gvk: GroupVersionKind,
): JsonObject {
  const root = definitions.get(name);
  if (!root) throw new Error(`no definition ${name}`);
  const reached = new Set<string>();
  const schema = convertNode(root, reached);
  const converted: JsonObject = {};
  const pending = [...reached];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    if (next in converted) continue;
    const definition = definitions.get(next);
    if (!definition) throw new Error(`${name} refers to ${next}, which the spec does not define`);
    const before = new Set(reached);
    converted[next] = convertNode(definition, reached);
    for (const added of reached) if (!before.has(added)) pending.push(added);
  }
  const properties = isObject(schema.properties) ? schema.properties : {};
  properties.apiVersion = { type: 'string', enum: [apiVersionOf(gvk)] };
  properties.kind = { type: 'string', enum: [gvk.kind] };
  const sorted: JsonObject = {};
  for (const key of Object.keys(converted).sort()) sorted[key] = converted[key] as Json;
  return {
    $schema: 'http://json-schema.org/draft-04/schema#',
    description: `${gvk.kind} (${apiVersionOf(gvk)}), from the Kubernetes OpenAPI v3 spec`,
    ...schema,
    properties,
    required: [...new Set(['apiVersion', 'kind', ...((schema.required as string[] | undefined) ?? [])])],
    definitions: sorted,
  };
}

/** Every definition of the spec's files, and the kinds (group/version/kind) they describe. */
export function readSpec(specDir: string): {
  definitions: Map<string, JsonObject>;
  kinds: Map<string, { name: string; gvk: GroupVersionKind }>;
} {
  const definitions = new Map<string, JsonObject>();
  const kinds = new Map<string, { name: string; gvk: GroupVersionKind }>();
  const files = fs
    .readdirSync(specDir)
    .filter((file) => file.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`${specDir} has no OpenAPI v3 files`);
  for (const file of files) {
    const document = JSON.parse(fs.readFileSync(path.join(specDir, file), 'utf8')) as OpenApiDocument;
    for (const [name, schema] of Object.entries(document.components?.schemas ?? {})) {
      if (!definitions.has(name)) definitions.set(name, schema);
      const listed = schema['x-kubernetes-group-version-kind'];
      if (!Array.isArray(listed)) continue;
      for (const entry of listed) {
        if (!isObject(entry)) continue;
        const gvk = {
          group: String(entry.group ?? ''),
          version: String(entry.version),
          kind: String(entry.kind),
        };
        const file = fileNameOf(gvk);
        const known = kinds.get(file);
        if (known && apiVersionOf(known.gvk) !== apiVersionOf(gvk))
          throw new Error(
            `${apiVersionOf(known.gvk)} and ${apiVersionOf(gvk)} ${gvk.kind} would share ${file}`,
          );
        if (!known) kinds.set(file, { name, gvk });
      }
    }
  }
  return { definitions, kinds };
}

export function writeSchemas(specDir: string, outDir: string): number {
  const { definitions, kinds } = readSpec(specDir);
  fs.mkdirSync(outDir, { recursive: true });
  for (const [file, { name, gvk }] of kinds)
    fs.writeFileSync(
      path.join(outDir, file),
      `${JSON.stringify(standaloneSchema(definitions, name, gvk))}\n`,
    );
  return kinds.size;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [specDir, outDir] = process.argv.slice(2);
  if (!specDir || !outDir) {
    process.stderr.write('usage: k8s-schemas.ts <api/openapi-spec/v3 dir> <output dir>\n');
    process.exit(2);
  }
  const count = writeSchemas(specDir, outDir);
  process.stdout.write(`${count} schemas written to ${outDir}\n`);
}
