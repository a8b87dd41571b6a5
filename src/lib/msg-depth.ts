/**
 * How deep a message is nested, found cheaply. Node-RED copies a message (RED.util.cloneMessage,
 * recursive) for every extra wire and for every Catch node: a message nested some thousands of
 * levels deep overflows the stack there and the process dies. Our nodes refuse such a message at
 * their input, before anything of ours (or a Catch node) copies it.
 *
 * The walk is iterative (no recursion of its own) and bounded: it looks at no more than `budget`
 * values, so a big flat array costs at most that many type checks, and it skips what is a leaf to a
 * copy (typed arrays, Buffers, Dates) and what Node-RED itself never copies (msg.req, msg.res).
 */
/** Default deepest nesting a message may have at our nodes' input (msg itself is level 0). */
export const DEFAULT_MAX_MESSAGE_DEPTH = 64;
/** Default number of values the depth walk looks at before it accepts the message. */
export const DEFAULT_DEPTH_WALK_BUDGET = 100_000;

/** Top-level message properties Node-RED never copies (the HTTP request and response of http-in). */
const NOT_COPIED = new Set(['req', 'res']);

export interface DepthFinding {
  /** The top-level property under which the limit was passed, e.g. "payload". */
  property: string;
  /** The depth reached (maxDepth + 1). */
  depth: number;
}

/**
 * The first place where `msg` is nested deeper than `maxDepth` levels, or undefined when it is not
 * (or the walk ran out of budget first). Level 1 is msg.payload, level 2 msg.payload.x, ...
 */
export function findTooDeep(msg: unknown, maxDepth = DEFAULT_MAX_MESSAGE_DEPTH, budget = DEFAULT_DEPTH_WALK_BUDGET): DepthFinding | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const values: unknown[] = [];
  const depths: number[] = [];
  const tops: string[] = [];
  const seen = new Set<object>([msg]);
  for (const key of Object.keys(msg)) {
    if (NOT_COPIED.has(key)) continue;
    values.push((msg as Record<string, unknown>)[key]);
    depths.push(1);
    tops.push(key);
  }
  let left = budget;
  while (values.length > 0 && left > 0) {
    const v = values.pop();
    const depth = depths.pop() as number;
    const top = tops.pop() as string;
    left--;
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v) || v instanceof Date || seen.has(v)) continue;
    if (depth > maxDepth) return { property: top, depth };
    seen.add(v);
    if (Array.isArray(v)) {
      // Only containers go on the stack; primitives are counted against the budget here.
      const n = Math.min(v.length, left);
      for (let i = 0; i < n; i++) {
        const item: unknown = v[i];
        if (typeof item === 'object' && item !== null) {
          values.push(item);
          depths.push(depth + 1);
          tops.push(top);
        }
      }
      left -= n;
    } else {
      for (const key in v) {
        if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
        if (--left < 0) break;
        const item: unknown = (v as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null) {
          values.push(item);
          depths.push(depth + 1);
          tops.push(top);
        }
      }
    }
  }
  return undefined;
}
