// Byte-level BPE merge engine (reference sec. 9.3), equivalent to llama.cpp's llm_tokenizer_bpe_session and
// HF tokenizers' BPE::merge_word: start from one symbol per byte-level character, repeatedly merge the
// adjacent pair with the lowest merge rank (ties: leftmost first) until no ranked pair remains.
//
// Symbols are integer ids. Strings that merges can produce but that are not vocabulary entries get "virtual"
// ids >= vocabSize so that the merge sequence stays exactly llama.cpp's (which works on strings); a virtual
// symbol left at the end is emitted byte by byte like llama.cpp does (single-byte tokens that exist).
// Cost: O(n log n) per pre-token with a binary heap; results are cached per pre-token string.

/** Limit on ids and ranks (4M) so that heap keys stay exact in a double. */
const ID_LIMIT = 1 << 22;
/** Heap key: rank * 2^26 + left position (exact: rank < 2^22, position < 2^26). */
const POS_LIMIT = 1 << 26;

export class BpeModel {
  /** text -> id for strings merges produce that are not vocabulary entries (ids >= vocabSize) */
  private readonly extra = new Map<string, number>();
  /** id -> text for those virtual ids (index id - vocabSize) */
  private readonly virtualText: string[] = [];
  private readonly merges: PairTable;
  private readonly cache = new Map<string, Int32Array>();
  private static readonly CACHE_MAX = 65536;

  constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    private readonly vocabSize: number,
    merges: readonly (readonly [string, string])[],
    private readonly ignoreMerges: boolean,
    private readonly source: string,
  ) {
    if (vocabSize >= ID_LIMIT) throw new Error(`${source}: vocabulary of ${vocabSize} tokens is too large`);
    if (merges.length >= ID_LIMIT) throw new Error(`${source}: ${merges.length} merges is too many`);
    this.merges = new PairTable(merges.length);
    for (let rank = 0; rank < merges.length; rank++) {
      const [a, b] = merges[rank]!;
      // duplicates: the first (lowest) rank wins, as in llama.cpp's bpe_ranks.emplace and HF
      this.merges.insertIfAbsent(this.symbolId(a), this.symbolId(b), rank, this.symbolId(a + b));
    }
  }

  private symbolId(text: string): number {
    let id = this.vocab.get(text) ?? this.extra.get(text);
    if (id === undefined) {
      id = this.vocabSize + this.virtualText.length;
      if (id >= ID_LIMIT) throw new Error(`${this.source}: too many merge symbols outside the vocabulary`);
      this.virtualText.push(text);
      this.extra.set(text, id);
    }
    return id;
  }

  /** Token ids of one pre-token given in byte-level form. */
  encodeWord(word: string): Int32Array {
    const hit = this.cache.get(word);
    if (hit) return hit;
    const out = this.encodeUncached(word);
    if (word.length <= 256) { // long pre-tokens are rare; caching them would only hold memory
      if (this.cache.size >= BpeModel.CACHE_MAX) this.cache.clear();
      this.cache.set(word, out);
    }
    return out;
  }

  private encodeUncached(word: string): Int32Array {
    if (this.ignoreMerges) {
      const whole = this.vocab.get(word);
      if (whole !== undefined) return Int32Array.of(whole);
    }
    const n = word.length; // byte-level characters are all in the BMP: one UTF-16 unit per symbol
    if (n >= POS_LIMIT) throw new Error(`${this.source}: pre-token of ${n} bytes is too long`);
    const sym = new Int32Array(n);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      sym[i] = this.symbolId(word[i]!);
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const heap = new PairHeap(n);
    const merges = this.merges;
    const push = (l: number, r: number): void => {
      if (l < 0 || r < 0) return;
      const slot = merges.find(sym[l]!, sym[r]!);
      if (slot >= 0) heap.push(merges.rank[slot]! * POS_LIMIT + l, r);
    };
    for (let i = 0; i + 1 < n; i++) push(i, i + 1);
    while (heap.size > 0) {
      const key = heap.topKey();
      const r = heap.topRight();
      heap.pop();
      const l = key % POS_LIMIT;
      const rank = (key - l) / POS_LIMIT;
      if (sym[l]! < 0 || next[l] !== r) continue; // stale: a side was merged away
      const slot = merges.find(sym[l]!, sym[r]!);
      // ranks are unique per pair, so an equal rank means the same pair is still there
      if (slot < 0 || merges.rank[slot] !== rank) continue;
      sym[l] = merges.merged[slot]!;
      sym[r] = -1;
      const rn = next[r]!;
      next[l] = rn;
      if (rn >= 0) prev[rn] = l;
      push(prev[l]!, l);
      push(l, rn);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]!) {
      const id = sym[i]!;
      if (id < this.vocabSize) { out.push(id); continue; }
      // not a vocabulary entry: llama.cpp emits the single-byte tokens of its text that exist, skipping others
      const text = this.virtualText[id - this.vocabSize]!;
      for (let k = 0; k < text.length; k++) {
        const c = text.charCodeAt(k);
        const b = c < 0x80 ? this.vocab.get(text[k]!) : undefined;
        if (b !== undefined) out.push(b);
      }
    }
    return Int32Array.from(out);
  }
}

/** Min-heap of (key, right index) on typed arrays. */
class PairHeap {
  private keys: Float64Array;
  private rights: Int32Array;
  size = 0;

  constructor(capacity: number) {
    const c = Math.max(16, capacity);
    this.keys = new Float64Array(c);
    this.rights = new Int32Array(c);
  }

  topKey(): number { return this.keys[0]!; }
  topRight(): number { return this.rights[0]!; }

  push(key: number, right: number): void {
    if (this.size === this.keys.length) {
      const k = new Float64Array(this.size * 2); k.set(this.keys); this.keys = k;
      const r = new Int32Array(this.size * 2); r.set(this.rights); this.rights = r;
    }
    const keys = this.keys, rights = this.rights;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (keys[p]! <= key) break;
      keys[i] = keys[p]!; rights[i] = rights[p]!;
      i = p;
    }
    keys[i] = key; rights[i] = right;
  }

  pop(): void {
    const keys = this.keys, rights = this.rights;
    const n = --this.size;
    if (n === 0) return;
    const key = keys[n]!, right = rights[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && keys[c + 1]! < keys[c]!) c++;
      if (keys[c]! >= key) break;
      keys[i] = keys[c]!; rights[i] = rights[c]!;
      i = c;
    }
    keys[i] = key; rights[i] = right;
  }
}

/** Open-addressing hash table (left id, right id) -> (rank, merged id) on typed arrays: fast to build, no GC. */
class PairTable {
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  readonly rank: Int32Array;
  readonly merged: Int32Array;
  private readonly mask: number;

  constructor(count: number) {
    let cap = 16;
    while (cap < count * 2) cap *= 2;
    this.mask = cap - 1;
    this.left = new Int32Array(cap).fill(-1);
    this.right = new Int32Array(cap);
    this.rank = new Int32Array(cap);
    this.merged = new Int32Array(cap);
  }

  private hash(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 7;
  }

  /** slot of (a, b), or -1 */
  find(a: number, b: number): number {
    for (let i = this.hash(a, b) & this.mask; ; i = (i + 1) & this.mask) {
      const l = this.left[i]!;
      if (l === -1) return -1;
      if (l === a && this.right[i] === b) return i;
    }
  }

  insertIfAbsent(a: number, b: number, rank: number, merged: number): void {
    for (let i = this.hash(a, b) & this.mask; ; i = (i + 1) & this.mask) {
      const l = this.left[i]!;
      if (l === a && this.right[i] === b) return;
      if (l === -1) {
        this.left[i] = a; this.right[i] = b; this.rank[i] = rank; this.merged[i] = merged;
        return;
      }
    }
  }
}
