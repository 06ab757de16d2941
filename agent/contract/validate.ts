// Validators for the city platform's contract (v1). The schemas in ./schemas are the city's
// files, unchanged: a test compares them byte for byte with the published contract so that a
// change on the platform side is noticed, not silently diverged from.
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import formatsModule from 'ajv-formats';
import common from './schemas/common.schema.json' with { type: 'json' };
import command from './schemas/command.schema.json' with { type: 'json' };
import event from './schemas/event.schema.json' with { type: 'json' };
import heartbeat from './schemas/heartbeat.schema.json' with { type: 'json' };
import lessonRecord from './schemas/lesson-record.schema.json' with { type: 'json' };
import reply from './schemas/reply.schema.json' with { type: 'json' };
import status from './schemas/status.schema.json' with { type: 'json' };
import timetable from './schemas/timetable.schema.json' with { type: 'json' };

export const CONTRACT_SCHEMAS = {
  common,
  command,
  event,
  heartbeat,
  'lesson-record': lessonRecord,
  reply,
  status,
  timetable,
} as const;

export type ContractSchemaName = Exclude<keyof typeof CONTRACT_SCHEMAS, 'common'>;

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the
// module object, whose `default` is the plugin.
type FormatsPlugin = (ajv: Ajv2020) => Ajv2020;
const addFormats: FormatsPlugin =
  (formatsModule as unknown as { default?: FormatsPlugin }).default ?? (formatsModule as unknown as FormatsPlugin);

export function createAjv(opts: { useDefaults?: boolean } = {}): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: false, useDefaults: opts.useDefaults ?? false });
  addFormats(ajv);
  return ajv;
}

export interface ValidationResult {
  ok: boolean;
  /** One line per problem, each starting with the JSON path of the offending value. */
  problems: string[];
}

/** Turns Ajv's errors into "path: message" lines a person can act on. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined, root = ''): string[] {
  if (!errors) return [];
  const lines = new Set<string>();
  for (const e of errors) {
    // `if/then` and `oneOf` add summary errors on top of the concrete ones; keep the concrete.
    if (e.keyword === 'if' || e.keyword === 'oneOf' || e.keyword === 'allOf') continue;
    let path = root + (e.instancePath || '');
    let msg = e.message ?? 'is invalid';
    if (e.keyword === 'required') {
      const p = (e.params as { missingProperty: string }).missingProperty;
      path = `${path}/${p}`;
      msg = 'is required';
    } else if (e.keyword === 'additionalProperties') {
      const p = (e.params as { additionalProperty: string }).additionalProperty;
      path = `${path}/${p}`;
      msg = 'is not a known field';
    } else if (e.keyword === 'enum') {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues;
      msg = `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`;
    }
    lines.add(`${path || '/'}: ${msg}`);
  }
  return [...lines];
}

/**
 * Validators for each contract message, sharing one Ajv instance. Each is compiled on first use:
 * the daemon validates only what it receives (commands, timetables) and its replies, and a
 * compiled validator costs memory on a small mini-PC.
 */
export class Contract {
  private readonly validators = new Map<ContractSchemaName, ValidateFunction>();
  private readonly ajv: Ajv2020;

  constructor(ajv: Ajv2020 = createAjv()) {
    this.ajv = ajv;
    if (!ajv.getSchema(common.$id)) ajv.addSchema(common);
  }

  /** Compiles another schema (a command's arguments) on the same instance. */
  compile(schema: object): ValidateFunction {
    return this.ajv.compile(schema);
  }

  validate(name: ContractSchemaName, value: unknown): ValidationResult {
    let fn = this.validators.get(name);
    if (!fn) {
      fn = this.ajv.compile(CONTRACT_SCHEMAS[name]);
      this.validators.set(name, fn);
    }
    const ok = fn(value);
    return { ok, problems: ok ? [] : describeErrors(fn.errors) };
  }
}
