// @ts-check
// Columnar rows sent as typed arrays in one binary buffer (batch_widgets/widgets/_columnar.py pack_columns):
// unpackColumns gives back the plain {name: array} columns, nulls included, exactly as the JSON form had them.
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
  const n = packed.n;
  const buffer = aligned(packed.buffer);
  /** @type {Record<string, any>} */
  const out = {};
  for (const [k, v] of Object.entries(packed)) if (k !== "packed" && k !== "columns" && k !== "buffer") out[k] = v;
  /** @type {[string, string][]} */
  const relative = [];
  for (const spec of packed.columns) {
    const Arr = ARRAYS[spec.type];
    const view = Arr ? new Arr(buffer, spec.offset, n) : null;
    /** @type {any[]} */
    const col = new Array(n);
    switch (spec.enc) {
      case "const":
        col.fill(spec.value);
        break;
      case "json":
        for (let i = 0; i < n; i++) col[i] = spec.values[i];
        break;
      case "int": {
        const nul = /** @type {any} */ (NULL)[spec.type];
        for (let i = 0; i < n; i++) col[i] = view[i] === nul ? null : view[i] + spec.base;
        if (spec.of) relative.push([spec.name, spec.of]);
        break;
      }
      case "delta": {
        let v = spec.first;
        for (let i = 0; i < n; i++) col[i] = v += view[i];
        break;
      }
      case "scaled": {
        const nul = /** @type {any} */ (NULL)[spec.type];
        const scale = 10 ** spec.digits;
        for (let i = 0; i < n; i++) col[i] = view[i] === nul ? null : view[i] / scale;
        break;
      }
      case "f64": {
        const f = new Float64Array(buffer, spec.offset, n);
        for (let i = 0; i < n; i++) col[i] = Number.isNaN(f[i]) ? null : f[i];
        break;
      }
      case "hex": {
        const bytes = new Uint8Array(buffer, spec.offset, spec.bytes);
        const w = spec.width;
        for (let i = 0, at = 0; i < n; i++) {
          let s = spec.prefix;
          for (let j = 0; j < w; j++) s += HEX[bytes[at++]];
          col[i] = s;
        }
        break;
      }
      case "dict":
        for (let i = 0; i < n; i++) col[i] = spec.values[view[i]];
        break;
      case "utf8": {
        const text = new TextDecoder().decode(
          new Uint8Array(buffer, spec.offset + spec.text_at, spec.bytes - spec.text_at));
        for (let i = 0, at = 0; i < n; i++) col[i] = text.slice(at, (at += view[i]));
        break;
      }
      default:
        throw new Error(`unknown column encoding ${spec.enc}`);
    }
    out[spec.name] = col;
  }
  for (const [name, base] of relative) {
    const col = out[name];
    const from = out[base];
    for (let i = 0; i < n; i++) if (col[i] !== null) col[i] += from[i];
  }
  return out;
}
