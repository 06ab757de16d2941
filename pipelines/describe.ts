/**
 * Safe construction of gst-launch descriptions.
 *
 * A description is text that GStreamer's parser turns into elements, links and properties, so a
 * value that reaches it unchecked could add elements (`! filesink location=/etc/passwd`) or
 * properties. Here every value is typed:
 *
 * - strings from settings become `Quoted` values: checked (no control characters, no backslash,
 *   valid Unicode, not the parser's special forms) and written in double quotes with `"` escaped,
 *   which the parser reads back as exactly the original string;
 * - numbers must be finite (integers where the property is an integer);
 * - `Token`s (enum nicks, caps formats) come from code and must match a strict pattern;
 * - factory, element and pad names match identifier patterns.
 *
 * The element-level checks (URLs, paths, device names) in `safe.ts` run before quoting, so a
 * value is both allow-listed for its meaning and quoted for the syntax.
 */
import { UnsafeValueError } from '../agent/errors.js';

/** Longest string value accepted anywhere in a description. */
export const MAX_VALUE_LENGTH = 4096;

/** A string value from a setting, checked and quoted for the parser. Build with `quoted()`. */
export class Quoted {
  private constructor(
    /** The value the element will receive. */
    readonly value: string,
    /** The value as written in the description. */
    readonly text: string,
  ) {}

  /** Checks `value` and quotes it; throws UnsafeValueError naming `setting`. */
  static of(value: string, setting: string): Quoted {
    if (typeof value !== 'string') throw new UnsafeValueError(setting, 'is not a string');
    const problem = quoteProblem(value);
    if (problem) throw new UnsafeValueError(setting, problem);
    return new Quoted(value, quoteText(value));
  }
}

function quoteText(value: string): string {
  return `"${value.replace(/"/g, '\\"')}"`;
}

/** A bare word written as it is: enum nicks and similar constants from code, never settings. */
export class Token {
  constructor(readonly text: string) {}
}

/** A fraction such as a frame rate (`30/1`). */
export class Fraction {
  constructor(
    readonly num: number,
    readonly den: number,
  ) {}
}

export type PropValue = Quoted | Token | number | boolean;

const TOKEN_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$/;
const FACTORY_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const PROP_RE = /^[a-z][a-z0-9-]{0,63}$/;
const NAME_RE = /^[a-z][a-z0-9_]{0,47}$/;
const PAD_RE = /^[a-z][a-z0-9_%]{0,31}$/;
const MEDIA_TYPE_RE = /^(video|audio|image|application)\/[a-z0-9.+-]{1,40}$/;

export function token(text: string): Token {
  if (!TOKEN_RE.test(text)) throw new UnsafeValueError('description', `"${text}" is not a plain word`);
  return new Token(text);
}

/**
 * Why a string cannot be a quoted value, or undefined when it can. The rules follow GStreamer's
 * parser: inside double quotes any character but `"` is literal, a backslash escapes the next
 * character, and after unquoting, a string property that reads `NULL` or is itself wrapped in
 * double quotes is transformed once more. Rejecting backslashes and those two forms, and escaping
 * `"`, makes the round trip exact.
 */
export function quoteProblem(value: string): string | undefined {
  if (value.length === 0) return 'is empty';
  if (value.length > MAX_VALUE_LENGTH) return `is longer than ${MAX_VALUE_LENGTH} characters`;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0) return 'contains a NUL character';
    if (c === 0x0a || c === 0x0d) return 'contains a line break';
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) return `contains a control character (U+${c.toString(16).padStart(4, '0')})`;
    if (c === 0x5c) return 'contains a backslash';
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return 'is not valid Unicode';
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return 'is not valid Unicode';
    } else if (c === 0x2028 || c === 0x2029 || c === 0xfeff) {
      return 'contains an invisible separator';
    }
  }
  if (value === 'NULL') return 'is the reserved word NULL';
  // A lone `"` both starts and ends with a quote too.
  if (value.startsWith('"') && value.endsWith('"')) return 'is wrapped in double quotes';
  return undefined;
}

/** A checked, quoted string value; throws UnsafeValueError naming `setting`. */
export function quoted(value: string, setting: string): Quoted {
  return Quoted.of(value, setting);
}

function renderNumber(n: number, where: string): string {
  if (!Number.isFinite(n)) throw new UnsafeValueError(where, `${n} is not a finite number`);
  if (Number.isInteger(n)) {
    if (!Number.isSafeInteger(n)) throw new UnsafeValueError(where, `${n} is out of range`);
    return String(n);
  }
  // Plain decimal notation: the parser does not read exponents for every numeric type.
  const text = n.toFixed(6).replace(/0+$/, '').replace(/\.$/, '');
  if (!/^-?\d+(\.\d+)?$/.test(text)) throw new UnsafeValueError(where, `${n} cannot be written as a decimal`);
  return text;
}

function renderValue(v: PropValue, where: string): string {
  if (v instanceof Quoted) {
    // Only Quoted.of makes these; checked again so that nothing else can.
    if (quoteProblem(v.value) !== undefined || v.text !== quoteText(v.value)) throw new UnsafeValueError(where, 'is not a checked value');
    return v.text;
  }
  if (v instanceof Token) {
    if (!TOKEN_RE.test(v.text)) throw new UnsafeValueError(where, `"${v.text}" is not a plain word`);
    return v.text;
  }
  if (typeof v === 'number') return renderNumber(v, where);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  throw new UnsafeValueError(where, 'has an unsupported value type');
}

export interface ElementNode {
  kind: 'element';
  factory: string;
  name?: string;
  props: ReadonlyArray<readonly [string, PropValue]>;
}

export interface CapsNode {
  kind: 'caps';
  text: string;
}

/** A reference to a named element (`tee.`) or one of its pads (`mux.audio_%u`). */
export interface RefNode {
  kind: 'ref';
  element: string;
  pad?: string;
}

export type Node = ElementNode | CapsNode | RefNode;

/** An element with its properties, in the order given; `name` is written first. */
export function el(factory: string, props: Record<string, PropValue | undefined> = {}, name?: string): ElementNode {
  if (!FACTORY_RE.test(factory)) throw new UnsafeValueError('description', `"${factory}" is not an element factory name`);
  if (name !== undefined && !NAME_RE.test(name)) throw new UnsafeValueError('description', `"${name}" is not an element name`);
  const list: (readonly [string, PropValue])[] = [];
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (!PROP_RE.test(k) || k === 'name') throw new UnsafeValueError('description', `"${k}" is not a property name`);
    renderValue(v, `${name ?? factory}.${k}`);
    list.push([k, v]);
  }
  return { kind: 'element', factory, name, props: list };
}

export type CapsField = number | Token | Fraction | boolean;

/** A caps filter such as `video/x-raw,format=I420,width=1280,height=720,framerate=30/1`. */
export function caps(mediaType: string, fields: Record<string, CapsField | undefined> = {}): CapsNode {
  if (!MEDIA_TYPE_RE.test(mediaType)) throw new UnsafeValueError('description', `"${mediaType}" is not a media type`);
  const parts = [mediaType];
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    if (!PROP_RE.test(k)) throw new UnsafeValueError('description', `"${k}" is not a caps field name`);
    const where = `caps ${mediaType} ${k}`;
    let text: string;
    if (v instanceof Fraction) {
      if (!Number.isSafeInteger(v.num) || !Number.isSafeInteger(v.den) || v.num < 0 || v.den <= 0) {
        throw new UnsafeValueError(where, `${v.num}/${v.den} is not a fraction`);
      }
      text = `${v.num}/${v.den}`;
    } else if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new UnsafeValueError(where, `${v} is not an integer`);
      text = String(v);
    } else {
      text = renderValue(v, where);
    }
    parts.push(`${k}=${text}`);
  }
  return { kind: 'caps', text: parts.join(',') };
}

export function ref(element: string, pad?: string): RefNode {
  if (!NAME_RE.test(element)) throw new UnsafeValueError('description', `"${element}" is not an element name`);
  if (pad !== undefined && !PAD_RE.test(pad)) throw new UnsafeValueError('description', `"${pad}" is not a pad name`);
  return { kind: 'ref', element, pad };
}

function renderNode(n: Node): string {
  switch (n.kind) {
    case 'element': {
      const words = [n.factory];
      if (n.name) words.push(`name=${n.name}`);
      for (const [k, v] of n.props) words.push(`${k}=${renderValue(v, `${n.name ?? n.factory}.${k}`)}`);
      return words.join(' ');
    }
    case 'caps':
      return n.text;
    case 'ref':
      return n.pad ? `${n.element}.${n.pad}` : `${n.element}.`;
  }
}

/** One linked chain: nodes joined by `!`. A chain may start or end with a reference. */
export type Chain = readonly Node[];

/**
 * The description of one pipeline: chains separated by line breaks (whitespace to the parser,
 * readable for a technician). Every element must be named, so tests and the runtime can find it.
 */
export function render(chains: readonly Chain[]): string {
  const seen = new Set<string>();
  for (const chain of chains) {
    for (const n of chain) {
      if (n.kind !== 'element') continue;
      if (!n.name) throw new UnsafeValueError('description', `element ${n.factory} has no name`);
      if (seen.has(n.name)) throw new UnsafeValueError('description', `element name ${n.name} is used twice`);
      seen.add(n.name);
    }
  }
  return chains.map((c) => c.map(renderNode).join(' ! ')).join('\n');
}

/** The names of the elements a description creates, in order. */
export function elementNames(chains: readonly Chain[]): string[] {
  const names: string[] = [];
  for (const chain of chains) for (const n of chain) if (n.kind === 'element' && n.name) names.push(n.name);
  return names;
}

/**
 * Splits a description into the words `gst-launch-1.0` expects as arguments: whitespace outside
 * double quotes separates words; quotes stay in the words (gst-launch joins its arguments back
 * with spaces and leaves quoted text alone), so the parser sees the same description.
 */
export function descriptionWords(description: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inQuotes = false;
  for (let i = 0; i < description.length; i++) {
    const ch = description[i]!;
    if (inQuotes) {
      cur += ch;
      if (ch === '\\' && i + 1 < description.length) {
        cur += description[++i]!;
      } else if (ch === '"') {
        inQuotes = false;
      }
    } else if (/\s/.test(ch)) {
      if (cur) words.push(cur);
      cur = '';
    } else {
      if (ch === '"') inQuotes = true;
      cur += ch;
    }
  }
  if (cur) words.push(cur);
  return words;
}

/** A POSIX shell word for `s` (single quotes), for printing runnable command lines. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
