// @ts-check
// Columnar rows sent as typed arrays in one binary buffer (batch_widgets/widgets/_columnar.py pack_columns):
// unpackColumns gives back the {name: array} columns, nulls included, exactly as the JSON form had them; a
// number column without nulls comes as a Float64Array (read the same way, but no JS object per value).
// The buffer arrives as a DataView (ipywidgets' message buffers) or an ArrayBuffer / typed array.

/** @type {Record<string, any>} */
const ARRAYS = {
  uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array,
  int8: Int8Array, int16: Int16Array, int32: Int32Array, float64: Float64Array,
};
const NULL = { uint8: 0xff, uint16: 0xffff, uint32: 0xffffffff };
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/**
 * @param {any} data
 * @returns {ArrayBuffer} a buffer whose byte 0 is the packed buffer's first byte (copied only if unaligned)
 */
function aligned(data) {
  if (data instanceof ArrayBuffer) return data;
  const { buffer, byteOffset, byteLength } = data;
  if (byteOffset % 8 === 0 && byteOffset === 0 && byteLength === buffer.byteLength) return buffer;
  return buffer.slice(byteOffset, byteOffset + byteLength);
}

/**
 * The columns of a packed snapshot as plain arrays; anything not packed is returned as it is.
 * @param {any} packed
 * @returns {any}
 */
export function unpackColumns(packed) {
  if (!packed || !packed.packed) return packed;
  const buffer = aligned(packed.buffer);
  /** @type {Record<string, any>} */
  const out = {};
  for (const [k, v] of Object.entries(packed)) if (k !== "packed" && k !== "columns" && k !== "buffer") out[k] = v;
  for (const spec of packed.columns) out[spec.name] = decodeColumn(spec, packed.n, buffer, out);
  return out;
}

/** Characters JSON.stringify would escape in a string. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as a JSON literal (what Python's json.dumps(s, ensure_ascii=False) writes). @param {string} s */
function literal(s) {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * @param {any} spec @param {number} n @param {ArrayBuffer} buffer
 * @param {Record<string, any[]>} done the columns decoded so far (references and relative columns point there)
 * @returns {any[] | Float64Array}
 */
function decodeColumn(spec, n, buffer, done) {
  const Arr = ARRAYS[spec.type];
  const view = Arr && spec.offset !== undefined ? new Arr(buffer, spec.offset, n) : null;
  /** @type {any[]} */
  const col = new Array(n);
  switch (spec.enc) {
    case "const":
      return col.fill(spec.value);
    case "ref":
      return done[spec.column].slice();
    case "json":
      for (let i = 0; i < n; i++) col[i] = spec.values[i];
      return col;
    case "int": {
      const nul = /** @type {any} */ (NULL)[spec.type];
      const from = spec.of ? done[spec.of] : null;
      const out = view.includes(nul) ? col : new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = view[i] === nul ? null : view[i] + spec.base + (from ? from[i] : 0);
      return out;
    }
    case "delta": {
      const out = new Float64Array(n);
      let v = spec.first;
      for (let i = 0; i < n; i++) out[i] = v += view[i];
      return out;
    }
    case "scaled": {
      const nul = /** @type {any} */ (NULL)[spec.type];
      const scale = 10 ** spec.digits;
      for (let i = 0; i < n; i++) col[i] = view[i] === nul ? null : view[i] / scale;
      return col;
    }
    case "f64": {
      const f = new Float64Array(buffer, spec.offset, n);
      for (let i = 0; i < n; i++) col[i] = Number.isNaN(f[i]) ? null : f[i];
      return col;
    }
    case "hex": {
      const bytes = new Uint8Array(buffer, spec.offset, spec.bytes);
      const w = spec.width;
      for (let i = 0, at = 0; i < n; i++) {
        let s = spec.prefix;
        for (let j = 0; j < w; j++) s += HEX[bytes[at++]];
        col[i] = s;
      }
      return col;
    }
    case "dict":
      for (let i = 0; i < n; i++) col[i] = spec.values[view[i]];
      return col;
    case "utf8": {
      const text = new TextDecoder().decode(
        new Uint8Array(buffer, spec.offset + spec.text_at, spec.bytes - spec.text_at));
      for (let i = 0, at = 0; i < n; i++) col[i] = text.slice(at, (at += view[i]));
      return col;
    }
    case "tuple": {
      const parts = spec.parts.map((/** @type {any} */ p) => decodeColumn(p, n, buffer, done));
      for (let i = 0; i < n; i++) col[i] = parts[0][i] === null ? null : parts.map((/** @type {any[]} */ p) => p[i]);
      return col;
    }
    case "object": {
      // JSON objects as Python's json.dumps(obj, ensure_ascii=False) writes them (", " and ": " between items).
      const [shapes, ...columns] = spec.parts.map((/** @type {any} */ p) => decodeColumn(p, n, buffer, done));
      /** @type {Map<any, [string, any[]][]>} per shape (key list), each key's '"key": ' and its values */
      const plans = new Map();
      for (let i = 0; i < n; i++) {
        const keys = shapes[i];
        if (keys === null) { col[i] = ""; continue; }
        const plan = plans.get(keys) || keys.map((/** @type {string} */ k, /** @type {number} */ j) =>
          [`${j ? ", " : ""}${JSON.stringify(k)}: `, columns[spec.keys.indexOf(k)]]);
        plans.set(keys, plan);
        let s = "{";
        for (const [head, values] of plan) s += head + literal(values[i]);
        col[i] = `${s}}`;
      }
      return col;
    }
    default:
      throw new Error(`unknown column encoding ${spec.enc}`);
  }
}
