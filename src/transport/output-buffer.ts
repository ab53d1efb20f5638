/** Collects a command's output, keeping at most `limit` characters (the tail, where errors are). */
export class OutputBuffer {
  private chunks: string[] = [];
  private size = 0;
  constructor(private readonly limit = 1 << 20) {}
  push(chunk: string): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) this.size -= this.chunks.shift()!.length;
  }
  text(): string {
    const t = this.chunks.join('');
    return t.length > this.limit ? t.slice(t.length - this.limit) : t;
  }
}
