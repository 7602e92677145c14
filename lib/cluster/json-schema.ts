/**
 * A JSON Schema (draft 2020-12) validator for the subset cluster.config.schema.json uses, so the
 * config loader checks a config against the published schema without a validator dependency.
 * Keywords: type, enum, minimum, maximum, multipleOf, minLength, pattern (ECMA-262, 'u' flag as the
 * spec says), properties, required, additionalProperties, items, minItems, allOf, oneOf, not.
 * Annotations ($schema, $id, $comment, title, description, default, examples) are ignored. Any other
 * keyword in the schema is an error at validation time: a silently skipped keyword would make the
 * loader accept what the schema forbids.
 */

export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/** The first violation found: where (a JSON path like hosts[0].ranks; '(top level)' for the root) and what. */
export interface SchemaViolation {
  readonly path: string;
  readonly message: string;
}

const ANNOTATIONS = new Set(['$schema', '$id', '$comment', 'title', 'description', 'default', 'examples']);
const KEYWORDS = new Set(['type', 'enum', 'minimum', 'maximum', 'multipleOf', 'minLength', 'pattern', 'properties', 'required', 'additionalProperties', 'items', 'minItems', 'allOf', 'oneOf', 'not']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function hasType(v: unknown, type: string): boolean {
  switch (type) {
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'object':
      return typeOf(v) === 'object';
    default:
      return typeOf(v) === type;
  }
}

function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path === '' ? '' : path}[${key}]`;
  return path === '' ? key : `${path}.${key}`;
}

const shown = (v: unknown): string => JSON.stringify(v) ?? String(v);

/** Validates `value` against `schema`; undefined when valid. */
export function validateSchema(schema: JsonSchema, value: unknown, path = ''): SchemaViolation | undefined {
  const at = path === '' ? '(top level)' : path;
  const fail = (message: string): SchemaViolation => ({ path: at, message });
  if (schema === true) return undefined;
  if (schema === false) return fail('is not allowed here');
  for (const k of Object.keys(schema)) if (!ANNOTATIONS.has(k) && !KEYWORDS.has(k)) throw new Error(`json-schema: keyword "${k}" at ${at} is not supported by this validator`);
  const s = schema as Record<string, unknown>;
  if (typeof s.type === 'string' && !hasType(value, s.type)) return fail(`must be ${s.type === 'integer' ? 'an integer' : `of type ${s.type}`}, got ${shown(value)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => e === value)) return fail(`must be one of ${s.enum.map((e) => shown(e)).join(', ')}, got ${shown(value)}`);
  if (typeof value === 'number') {
    if (typeof s.minimum === 'number' && value < s.minimum) return fail(`must be >= ${s.minimum}, got ${value}`);
    if (typeof s.maximum === 'number' && value > s.maximum) return fail(`must be <= ${s.maximum}, got ${value}`);
    if (typeof s.multipleOf === 'number' && value % s.multipleOf !== 0) return fail(`must be a multiple of ${s.multipleOf}, got ${value}`);
  }
  if (typeof value === 'string') {
    // Length in code points, as the spec counts.
    if (typeof s.minLength === 'number' && [...value].length < s.minLength) return fail(`must have at least ${s.minLength} character(s)`);
    if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(value)) return fail(`must match ${s.pattern}, got ${shown(value)}`);
  }
  if (Array.isArray(value)) {
    if (typeof s.minItems === 'number' && value.length < s.minItems) return fail(`must have at least ${s.minItems} item(s)`);
    if (s.items !== undefined) {
      for (let i = 0; i < value.length; i++) {
        const v = validateSchema(s.items as JsonSchema, value[i], child(path, i));
        if (v !== undefined) return v;
      }
    }
  }
  if (typeOf(value) === 'object') {
    const o = value as Record<string, unknown>;
    const props = (s.properties ?? {}) as Record<string, JsonSchema>;
    if (Array.isArray(s.required)) for (const r of s.required as string[]) if (!(r in o)) return { path: child(path, r), message: 'is required' };
    for (const [k, v] of Object.entries(o)) {
      const sub = Object.hasOwn(props, k) ? props[k] : s.additionalProperties;
      if (sub === undefined) continue;
      if (sub === false) return { path: child(path, k), message: `is not a known key (known: ${Object.keys(props).join(', ')})` };
      const r = validateSchema(sub as JsonSchema, v, child(path, k));
      if (r !== undefined) return r;
    }
  }
  if (Array.isArray(s.allOf)) {
    for (const sub of s.allOf as JsonSchema[]) {
      const r = validateSchema(sub, value, path);
      if (r !== undefined) return r;
    }
  }
  if (Array.isArray(s.oneOf)) {
    const results = (s.oneOf as JsonSchema[]).map((sub) => validateSchema(sub, value, path));
    const passing = results.filter((r) => r === undefined).length;
    if (passing !== 1) {
      const why = typeof s.$comment === 'string' ? s.$comment : passing === 0 ? (results[0]?.message ?? 'matches none of the alternatives') : 'matches more than one alternative';
      return fail(`${passing === 0 ? 'matches none' : 'matches several'} of the allowed forms: ${why}`);
    }
  }
  if (s.not !== undefined && validateSchema(s.not as JsonSchema, value, path) === undefined) {
    return fail(typeof s.$comment === 'string' ? s.$comment : `must not match ${shown(s.not)}`);
  }
  return undefined;
}
