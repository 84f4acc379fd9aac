// @ts-check
// Browser twin of batch_widgets/validation.py: the same limits, the same rules, the same codes and the same
// 1-based line numbers, so a file the panel accepts is a file the kernel accepts. It works on bytes, as the
// Python validator reads a file (lines end at "\n"; sizes are UTF-8 bytes), and streams a File in slices so a
// 200 MB file is never decoded into one string.

import { MAX_REQUESTS, MAX_FILE_BYTES } from "./facts.js";

export { MAX_REQUESTS, MAX_FILE_BYTES };
export const MAX_PROBLEMS = 1_000;

/** @typedef {{line: number | null, code: string, message: string, field: string | null}} Problem */
/**
 * @typedef {{ok: boolean, problems: Problem[], problemCount: number, lineCount: number, model: string | null,
 *   endpoint: string | null, sizeBytes: number}} Report
 */

const NEWLINE = 10;
/** Python's bytes.strip() whitespace: space, \t, \n, \r, \v, \f. @param {Uint8Array} b */
function isBlank(b) {
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c !== 32 && (c < 9 || c > 13)) return false;
  }
  return true;
}

/** @param {string} text @param {number} [limit] */
function clip(text, limit = 80) {
  return text.length <= limit ? text : text.slice(0, limit - 1) + "…";
}

/** @param {any} v */
function jsonType(v) {
  if (v === null || v === undefined) return "null";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "number") return "a number";
  if (typeof v === "string") return "a string";
  if (Array.isArray(v)) return "an array";
  return "an object";
}

/** Python's repr of a JSON value (quotes, True/False), near enough for messages to match. @param {any} v */
function repr(v) {
  if (typeof v === "boolean") return v ? "True" : "False";
  if (typeof v !== "string") return clip(JSON.stringify(v));
  const text = clip(v);
  return text.includes("'") && !text.includes('"') ? `"${text}"` : `'${text}'`;
}

/**
 * JSON.parse's reason without its own position wording ("at position P", "(line 1 column M)", Firefox's
 * "at line 1 column M of the JSON data"): the line is shown beside the message, so only "at column M" is kept,
 * as the Python validator words it. V8's echo of the whole line ('..., "{...}" is not valid JSON') is dropped.
 * @param {string} msg
 */
export function jsonErrorText(msg) {
  let text = msg.replace(/^JSON\.parse: /, "").replace(/^(Unexpected token .*?), ".*" is not valid JSON$/s, "$1");
  let column = null;
  const lineCol = /\s*\(?\bline \d+ column (\d+)\)?( of the JSON data)?/.exec(text);
  if (lineCol) {
    column = Number(lineCol[1]);
    text = text.replace(lineCol[0], "");
  }
  const pos = /\s*\bat position (\d+)/.exec(text);
  if (pos) {
    column = column ?? Number(pos[1]) + 1;
    text = text.replace(pos[0], "");
  }
  text = text.replace(/\s+at$/, "").replace(/ in JSON$/, "").trim();
  return column === null ? text : `${text} at column ${column}`;
}

export class LineValidator {
  /**
   * @param {string | null} [endpoint] the batch endpoint every line's url must equal (else: the first url)
   * @param {{maxRequests?: number, maxBytes?: number, maxProblems?: number}} [limits]
   */
  constructor(endpoint = null, limits = {}) {
    /** @type {Report} */
    this.report = { ok: true, problems: [], problemCount: 0, lineCount: 0, model: null,
      endpoint: endpoint || null, sizeBytes: 0 };
    this.fixedEndpoint = Boolean(endpoint);
    this.maxRequests = limits.maxRequests ?? MAX_REQUESTS;
    this.maxBytes = limits.maxBytes ?? MAX_FILE_BYTES;
    this.maxProblems = limits.maxProblems ?? MAX_PROBLEMS;
    /** @type {Map<string, number>} custom_id -> first line */
    this.seen = new Map();
    this.lineNo = 0;
    /** @type {number | null} first line of a run of blank lines not yet known to be trailing */
    this.blankFrom = null;
    this.stopped = false;
    this.decoder = new TextDecoder("utf-8", { fatal: true });
  }

  /** @param {number | null} line @param {string} code @param {string} message @param {string | null} [field] */
  problem(line, code, message, field = null) {
    this.report.problemCount += 1;
    if (this.report.problems.length < this.maxProblems) this.report.problems.push({ line, code, message, field });
  }

  /**
   * Check one line: its bytes without the newline; `hasNewline` says whether one ended it.
   * @param {Uint8Array} bytes @param {boolean} [hasNewline]
   */
  feed(bytes, hasNewline = true) {
    if (this.stopped) return;
    this.lineNo += 1;
    // As in Python: a line's size includes its newline, and a last line without one counts one byte more.
    if (!this.addSize(bytes.length + 1)) return;
    if (isBlank(bytes)) {
      if (this.blankFrom === null) this.blankFrom = this.lineNo;
      return;
    }
    this.startRequest();
    let obj;
    try {
      obj = JSON.parse(this.decoder.decode(bytes));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      this.problem(this.lineNo, "invalid_json_line", `not valid JSON: ${clip(jsonErrorText(msg), 120)}`);
      return;
    }
    this.check(this.lineNo, obj);
  }

  /** @param {number} size */
  addSize(size) {
    this.report.sizeBytes += size;
    if (this.report.sizeBytes <= this.maxBytes) return true;
    this.problem(null, "file_too_large", `the input is larger than ${this.maxBytes.toLocaleString("en-US")} ` +
      `bytes; validation stopped at line ${this.lineNo}`);
    this.stopped = true;
    return false;
  }

  startRequest() {
    // Blank lines are only tolerated at the end of the file.
    if (this.blankFrom !== null) {
      for (let n = this.blankFrom; n < this.lineNo; n++) {
        this.problem(n, "invalid_json_line", "empty line (only trailing blank lines are allowed)");
      }
      this.blankFrom = null;
    }
    this.report.lineCount += 1;
    if (this.report.lineCount === this.maxRequests + 1) {
      this.problem(this.lineNo, "too_many_tasks", `a batch holds at most ${this.maxRequests.toLocaleString("en-US")}` +
        ` requests; this is request ${(this.maxRequests + 1).toLocaleString("en-US")}`);
    }
  }

  /** @param {number} n @param {any} obj */
  check(n, obj) {
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
      this.problem(n, "invalid_line", `each line must be a JSON object, not ${jsonType(obj)}`);
      return;
    }
    const cid = obj.custom_id;
    if (cid === undefined || cid === null || cid === "") {
      this.problem(n, "missing_custom_id", "missing or empty", "custom_id");
    } else if (typeof cid !== "string") {
      this.problem(n, "invalid_line", `must be a string, not ${jsonType(cid)}`, "custom_id");
    } else if (this.seen.has(cid)) {
      this.problem(n, "duplicate_custom_id", `${repr(cid)} was already used on line ${this.seen.get(cid)}`, "custom_id");
    } else {
      this.seen.set(cid, n);
    }
    const method = obj.method;
    if (method !== "POST") {
      const what = method === undefined || method === null ? "missing" : repr(method);
      this.problem(n, "invalid_method", `must be "POST" (got ${what})`, "method");
    }
    this.checkUrl(n, obj.url);
    this.checkBody(n, obj.body);
  }

  /** @param {number} n @param {any} url */
  checkUrl(n, url) {
    const rep = this.report;
    if (typeof url !== "string" || !url) {
      this.problem(n, "url_mismatch", "missing or not a string", "url");
    } else if (rep.endpoint === null) {
      rep.endpoint = url;
    } else if (url !== rep.endpoint) {
      const against = this.fixedEndpoint ? "the batch endpoint" : "the first line's url";
      this.problem(n, "url_mismatch", `${repr(url)} differs from ${against} ${repr(rep.endpoint)}`, "url");
    }
  }

  /** @param {number} n @param {any} body */
  checkBody(n, body) {
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      const what = body === undefined || body === null ? "missing" : jsonType(body);
      this.problem(n, "missing_body", `must be a JSON object (got ${what})`, "body");
      return;
    }
    const model = body.model;
    if (typeof model !== "string" || !model) {
      this.problem(n, "missing_model", "missing or not a string", "body.model");
    } else if (this.report.model === null) {
      this.report.model = model;
    } else if (model !== this.report.model) {
      this.problem(n, "model_mismatch", `${repr(model)} differs from the first model ` +
        `${repr(this.report.model)}; a batch uses one model`, "body.model");
    }
    if (body.stream === true) {
      this.problem(n, "stream_not_supported", "true is not supported in a batch", "body.stream");
    }
  }

  /** @returns {Report} */
  finish() {
    if (this.report.lineCount === 0 && !this.stopped) this.problem(null, "empty_file", "the input holds no requests");
    this.report.ok = this.report.problemCount === 0;
    return this.report;
  }
}

/**
 * Splits a byte stream into lines for a LineValidator; `push` takes slices in order, `end` flushes the rest.
 */
export class LineSplitter {
  /** @param {LineValidator} validator */
  constructor(validator) {
    this.v = validator;
    /** @type {Uint8Array} bytes after the last newline seen */
    this.rest = new Uint8Array(0);
  }

  /** @param {Uint8Array} chunk */
  push(chunk) {
    let data = chunk;
    if (this.rest.length) {
      data = new Uint8Array(this.rest.length + chunk.length);
      data.set(this.rest);
      data.set(chunk, this.rest.length);
    }
    let start = 0;
    let nl;
    while (!this.v.stopped && (nl = data.indexOf(NEWLINE, start)) !== -1) {
      this.v.feed(data.subarray(start, nl), true);
      start = nl + 1;
    }
    this.rest = this.v.stopped ? new Uint8Array(0) : data.slice(start);
  }

  end() {
    if (this.rest.length && !this.v.stopped) this.v.feed(this.rest, false);
    this.rest = new Uint8Array(0);
    return this.v.finish();
  }
}

/** @typedef {{maxRequests?: number, maxBytes?: number}} Limits the kernel's limits (else the facts') */

/**
 * Validate JSONL given as bytes or a string.
 * @param {Uint8Array | string} input @param {{endpoint?: string | null, limits?: Limits}} [opts]
 * @returns {Report}
 */
export function validateBytes(input, opts = {}) {
  const bytes = typeof input === "string" ? new TextEncoder().encode(input) : input;
  const split = new LineSplitter(new LineValidator(opts.endpoint || null, opts.limits));
  split.push(bytes);
  return split.end();
}

/**
 * Validate a File/Blob in slices (never one big string). Stops reading once the size cap is passed.
 * @param {Blob} file
 * `limits` lifts the per-batch caps (a file over them can still be created as a job of several parts).
 * @param {{endpoint?: string | null, sliceBytes?: number, onProgress?: (done: number, total: number) => void,
 *   limits?: Limits}} [opts]
 * @returns {Promise<Report>}
 */
export async function validateFile(file, opts = {}) {
  const slice = opts.sliceBytes || 4 * 1024 * 1024;
  const split = new LineSplitter(new LineValidator(opts.endpoint || null, opts.limits));
  for (let pos = 0; pos < file.size && !split.v.stopped; pos += slice) {
    const part = file.slice(pos, Math.min(file.size, pos + slice));
    split.push(new Uint8Array(await part.arrayBuffer()));
    if (opts.onProgress) opts.onProgress(Math.min(file.size, pos + slice), file.size);
  }
  return split.end();
}
