// Validates payloads against the city's published contract (the shared schemas beside the
// checkout, not the agent's vendored copy), so a test fails if the agent drifts from it.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';

export const SHARED_SCHEMAS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/platform-contract/schemas');
export const SHARED_EXAMPLES_DIR = resolve(SHARED_SCHEMAS_DIR, '../examples');

type Plugin = (ajv: Ajv2020) => Ajv2020;
const addFormats: Plugin = (formatsModule as unknown as { default?: Plugin }).default ?? (formatsModule as unknown as Plugin);

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
const validators = new Map<string, ValidateFunction>();
for (const f of readdirSync(SHARED_SCHEMAS_DIR)) {
  ajv.addSchema(JSON.parse(readFileSync(join(SHARED_SCHEMAS_DIR, f), 'utf8')) as object);
}
for (const f of readdirSync(SHARED_SCHEMAS_DIR)) {
  const name = f.replace('.schema.json', '');
  if (name === 'common') continue;
  validators.set(name, ajv.getSchema(`https://contract.classroom.example/v1/${f}`) as ValidateFunction);
}

/** Schema name for a device → platform topic suffix, or undefined for platform → device topics. */
export function schemaForTopic(subtopic: string): string | undefined {
  if (subtopic === 'status') return 'status';
  if (subtopic === 'heartbeat') return 'heartbeat';
  if (subtopic === 'lessons') return 'lesson-record';
  if (subtopic === 'events') return 'event';
  if (subtopic === 'reply') return 'reply';
  return undefined;
}

/** Problems of `value` against the named contract schema ([] when valid). */
export function contractProblems(schema: string, value: unknown): string[] {
  const v = validators.get(schema);
  if (!v) throw new Error(`no contract schema named ${schema}`);
  if (v(value)) return [];
  return (v.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}
