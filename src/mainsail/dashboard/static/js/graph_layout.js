// The service graph's layout: a pure, deterministic function of the graph's topology (node ids,
// parents, edge ends), never of its figures, so a refresh with the same topology draws every
// node exactly where it was (no jitter). Left to right by call depth (a Sugiyama-style layered
// layout): callers without a proxy (`unknown`) and gateways first, then services and workloads.
// Workloads with the same app are one block (drawn inside their app box) so versions stay
// together in one column.

export const NODE_W = 150;
export const NODE_H = 38;
const GROUP_PAD = 6;
const GROUP_HEADER = 17;
const INNER_GAP = 6;
const COL_GAP = 122;
const ROW_GAP = 18;
const MARGIN = 24;
const SWEEPS = 6;

const KIND_ORDER = { unknown: 0, gateway: 1, service: 2, app: 3, workload: 3, external: 4 };

function kindOrder(kind) {
  return KIND_ORDER[kind] ?? 5;
}

function compareNodes(a, b) {
  return (
    kindOrder(a.kind) - kindOrder(b.kind) ||
    String(a.namespace ?? "").localeCompare(String(b.namespace ?? "")) ||
    String(a.name ?? a.id).localeCompare(String(b.name ?? b.id)) ||
    a.id.localeCompare(b.id)
  );
}

/** What the layout depends on; equal keys give equal layouts. */
export function topologyKey(graph) {
  const nodes = graph.nodes.map((n) => `${n.id}<${n.parent ?? ""}`).sort();
  const edges = graph.edges.map((e) => `${e.source}>${e.target}`).sort();
  return `${nodes.join("|")}#${edges.join("|")}`;
}

/** Blocks: one per app with its workloads, one per other node. */
function buildBlocks(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const blocks = new Map();
  const blockOf = new Map();
  const sorted = [...nodes].sort(compareNodes);
  for (const node of sorted) {
    if (node.kind === "app") continue;
    const parent = node.parent ? byId.get(node.parent) : undefined;
    const grouped = node.parent && (parent === undefined || parent.kind === "app");
    const id = grouped ? node.parent : node.id;
    if (!blocks.has(id)) {
      blocks.set(id, {
        id,
        group: grouped,
        node: grouped ? parent ?? { id, kind: "app", name: id.replace(/^app:[^/]*\//, "") } : node,
        members: [],
      });
    }
    if (grouped) blocks.get(id).members.push(node);
    blockOf.set(node.id, id);
  }
  // An app nobody's workload points at is drawn as a node of its own.
  for (const node of sorted) {
    if (node.kind === "app" && !blocks.has(node.id)) {
      blocks.set(node.id, { id: node.id, group: false, node, members: [] });
    }
    if (node.kind === "app") blockOf.set(node.id, node.id);
  }
  for (const block of blocks.values()) {
    block.members.sort((a, b) =>
      String(a.version ?? "").localeCompare(String(b.version ?? "")) || a.id.localeCompare(b.id),
    );
    block.height = block.group
      ? GROUP_HEADER + GROUP_PAD + block.members.length * NODE_H + (block.members.length - 1) * INNER_GAP + GROUP_PAD
      : NODE_H;
    block.width = block.group ? NODE_W + 2 * GROUP_PAD : NODE_W;
  }
  return { blocks, blockOf };
}

/** Ranks by longest path after breaking cycles with a deterministic depth-first search. */
function rankBlocks(blocks, links) {
  const ids = [...blocks.keys()];
  const succ = new Map(ids.map((id) => [id, []]));
  const indegree = new Map(ids.map((id) => [id, 0]));
  for (const [a, b] of links) {
    succ.get(a).push(b);
    indegree.set(b, indegree.get(b) + 1);
  }
  const byOrder = (a, b) => compareNodes(blocks.get(a).node, blocks.get(b).node);
  for (const list of succ.values()) list.sort(byOrder);
  // Roots first (nobody calls them: unknown callers, gateways), so cycles break at the far end.
  const isRoot = (id) => (indegree.get(id) === 0 ? 0 : 1);
  const starts = [...ids].sort((a, b) => isRoot(a) - isRoot(b) || byOrder(a, b));
  const state = new Map();
  const back = new Set();
  for (const start of starts) {
    if (state.has(start)) continue;
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const next = succ.get(top[0])[top[1]++];
      if (next === undefined) {
        state.set(top[0], 2);
        stack.pop();
      } else if (state.get(next) === 1) {
        back.add(`${top[0]}>${next}`);
      } else if (!state.has(next)) {
        state.set(next, 1);
        stack.push([next, 0]);
      }
    }
  }
  const forward = links.filter(([a, b]) => !back.has(`${a}>${b}`));
  const preds = new Map(ids.map((id) => [id, []]));
  for (const [a, b] of forward) preds.get(b).push(a);
  const rank = new Map();
  const visit = (id, seen) => {
    if (rank.has(id)) return rank.get(id);
    seen.add(id);
    let r = 0;
    for (const p of preds.get(id)) if (!seen.has(p)) r = Math.max(r, visit(p, seen) + 1);
    seen.delete(id);
    rank.set(id, r);
    return r;
  };
  for (const id of ids) visit(id, new Set());
  return rank;
}

/** Isotonic regression (pool adjacent violators): the tops closest to `desired` that keep
 * the column's order and spacing. */
function placeColumn(column, desired) {
  const offsets = [];
  let offset = 0;
  for (const block of column) {
    offsets.push(offset);
    offset += block.height + ROW_GAP;
  }
  const pools = [];
  column.forEach((block, i) => {
    pools.push({ sum: desired[i] - offsets[i], count: 1 });
    while (pools.length > 1) {
      const last = pools[pools.length - 1];
      const prev = pools[pools.length - 2];
      if (prev.sum / prev.count <= last.sum / last.count) break;
      prev.sum += last.sum;
      prev.count += last.count;
      pools.pop();
    }
  });
  let i = 0;
  for (const pool of pools) {
    const value = pool.sum / pool.count;
    for (let k = 0; k < pool.count; k++, i++) column[i].y = value + offsets[i];
  }
}

function center(block) {
  return block.y + block.height / 2;
}

function stack(column) {
  const total = column.reduce((sum, b) => sum + b.height + ROW_GAP, -ROW_GAP);
  let y = -total / 2;
  for (const block of column) {
    block.y = y;
    y += block.height + ROW_GAP;
  }
}

function meanCenter(neighbours, fallback) {
  if (!neighbours.length) return fallback;
  return neighbours.reduce((sum, b) => sum + center(b), 0) / neighbours.length;
}

function bezierPoint(p0, p1, p2, p3, t) {
  const u = 1 - t;
  return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
}

/**
 * Lays `graph` out. Returns {width, height, nodes: Map id → {x, y, w, h}, groups: [{id, node,
 * x, y, w, h}], edges: Map id → {d, labelX, labelY}}; pure and deterministic.
 */
export function layoutGraph(graph) {
  const { blocks, blockOf } = buildBlocks(graph.nodes);
  const linkSet = new Set();
  const links = [];
  for (const edge of graph.edges) {
    const a = blockOf.get(edge.source);
    const b = blockOf.get(edge.target);
    if (a === undefined || b === undefined || a === b || linkSet.has(`${a}>${b}`)) continue;
    linkSet.add(`${a}>${b}`);
    links.push([a, b]);
  }
  // The API's order must not matter, not even through the rounding of sums.
  links.sort((x, y) => x[0].localeCompare(y[0]) || x[1].localeCompare(y[1]));
  const linked = new Set(links.flat());
  let rank;
  if (links.length === 0) {
    // No traffic yet: columns by kind, so the mesh's inventory still reads left to right.
    rank = new Map([...blocks.values()].map((b) => [b.id, Math.min(kindOrder(b.node.kind), 4)]));
  } else {
    rank = rankBlocks(blocks, links);
    const idleColumn = Math.max(...[...linked].map((id) => rank.get(id))) + 1;
    for (const id of blocks.keys()) if (!linked.has(id)) rank.set(id, idleColumn);
  }
  const ranks = [...new Set(rank.values())].sort((a, b) => a - b);
  const columnIndex = new Map(ranks.map((r, i) => [r, i]));
  const columns = ranks.map(() => []);
  const sortedBlocks = [...blocks.values()].sort((a, b) => compareNodes(a.node, b.node));
  for (const block of sortedBlocks) {
    block.column = columnIndex.get(rank.get(block.id));
    columns[block.column].push(block);
  }
  const preds = new Map([...blocks.keys()].map((id) => [id, []]));
  const succs = new Map([...blocks.keys()].map((id) => [id, []]));
  for (const [a, b] of links) {
    succs.get(a).push(blocks.get(b));
    preds.get(b).push(blocks.get(a));
  }
  columns.forEach(stack);
  // Ordering: barycentre sweeps, alternately from the left and from the right.
  for (let sweep = 0; sweep < SWEEPS; sweep++) {
    const down = sweep % 2 === 0;
    const order = down ? columns : [...columns].reverse();
    for (const column of order) {
      const neighbours = (b) =>
        (down ? preds : succs).get(b.id).filter((n) => (down ? n.column < b.column : n.column > b.column));
      const keyed = column.map((b, i) => ({ b, i, key: meanCenter(neighbours(b), center(b)) }));
      keyed.sort((x, y) => x.key - y.key || x.i - y.i);
      column.splice(0, column.length, ...keyed.map((k) => k.b));
      stack(column);
    }
  }
  // Vertical placement: each block as close as its order allows to the mean of its neighbours.
  for (let pass = 0; pass < 8; pass++) {
    const down = pass % 2 === 0;
    const order = down ? columns : [...columns].reverse();
    for (const column of order) {
      const desired = column.map((b) => {
        const near = [...preds.get(b.id), ...succs.get(b.id)].filter((n) => n.column !== b.column);
        return meanCenter(near, center(b)) - b.height / 2;
      });
      placeColumn(column, desired);
    }
  }
  let minY = Infinity;
  let maxY = -Infinity;
  for (const block of blocks.values()) {
    minY = Math.min(minY, block.y);
    maxY = Math.max(maxY, block.y + block.height);
  }
  if (!blocks.size) minY = maxY = 0;
  const columnX = [];
  let x = MARGIN;
  for (const column of columns) {
    columnX.push(x);
    x += Math.max(...column.map((b) => b.width)) + COL_GAP;
  }
  const width = Math.max(x - COL_GAP + MARGIN, 2 * MARGIN);
  const nodes = new Map();
  const groups = [];
  for (const block of blocks.values()) {
    const bx = columnX[block.column];
    const by = block.y - minY + MARGIN;
    if (block.group) {
      groups.push({ id: block.id, node: block.node, x: bx, y: by, w: block.width, h: block.height });
      block.members.forEach((member, i) => {
        nodes.set(member.id, {
          x: bx + GROUP_PAD,
          y: by + GROUP_HEADER + GROUP_PAD + i * (NODE_H + INNER_GAP),
          w: NODE_W,
          h: NODE_H,
        });
      });
    } else {
      nodes.set(block.id, { x: bx, y: by, w: NODE_W, h: NODE_H });
    }
  }
  const bottom = maxY - minY + MARGIN;
  const edges = new Map();
  const outDegree = new Map();
  const inDegree = new Map();
  for (const edge of graph.edges) {
    outDegree.set(edge.source, (outDegree.get(edge.source) ?? 0) + 1);
    inDegree.set(edge.target, (inDegree.get(edge.target) ?? 0) + 1);
  }
  let loops = 0;
  for (const edge of graph.edges) {
    const a = nodes.get(edge.source);
    const b = nodes.get(edge.target);
    if (!a || !b) continue;
    // Labels go where fanned edges are furthest apart: near the targets of a fan-out, near the
    // source of a fan-in.
    const fanOut = outDegree.get(edge.source) > 1;
    const fanIn = inDegree.get(edge.target) > 1;
    const labelAt = fanOut && !fanIn ? 0.66 : fanIn && !fanOut ? 0.34 : 0.5;
    const geometry = route(a, b, bottom, blockOf.get(edge.source) === blockOf.get(edge.target), loops, labelAt);
    edges.set(edge.id, geometry);
    if (geometry.loop) loops++;
  }
  const height = bottom + MARGIN + (loops ? 30 + 12 * loops : 0);
  return { width, height, nodes, groups, edges };
}

function route(a, b, bottom, sameBlock, loops, labelAt) {
  const x1 = a.x + a.w;
  const y1 = a.y + a.h / 2;
  const x2 = b.x;
  const y2 = b.y + b.h / 2;
  if (x2 > x1 + 20 && !sameBlock) {
    const dx = (x2 - x1) / 2;
    const c1 = x1 + dx;
    const c2 = x2 - dx;
    // Over several columns the label sits in the gap next to its end, clear of other nodes.
    const gap = Math.min(COL_GAP, x2 - x1);
    const wantX = labelAt >= 0.5 ? x2 - gap * (1 - labelAt) : x1 + gap * labelAt;
    let lo = 0;
    let hi = 1;
    for (let i = 0; i < 30; i++) {
      const mid = (lo + hi) / 2;
      if (bezierPoint(x1, c1, c2, x2, mid) < wantX) lo = mid;
      else hi = mid;
    }
    return {
      d: `M${x1},${y1} C${c1},${y1} ${c2},${y2} ${x2},${y2}`,
      labelX: bezierPoint(x1, c1, c2, x2, lo),
      labelY: bezierPoint(y1, y1, y2, y2, lo),
      loop: false,
    };
  }
  // Against the flow (a cycle, or a call within one column): a loop under the graph.
  const sx = a.x + a.w / 2;
  const tx = b.x + b.w / 2;
  const low = bottom + 18 + 12 * loops;
  return {
    d: `M${sx},${a.y + a.h} C${sx},${low} ${tx},${low} ${tx},${b.y + b.h}`,
    labelX: (sx + tx) / 2,
    labelY: bezierPoint(a.y + a.h, low, low, b.y + b.h, 0.5),
    loop: true,
  };
}
