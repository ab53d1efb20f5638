// Types for relay.mjs (imported by the integration tests).
export interface RelayStats {
  connections: number;
  bytesUp: number;
  bytesDown: number;
}
export interface Relay {
  port: number;
  rttMs: number;
  mbit: number;
  stats: RelayStats;
  close(): Promise<void>;
}
export function startRelay(o: { targetPort: number; targetHost?: string; rttMs?: number; mbit?: number; bufferBytes?: number }): Promise<Relay>;
export function probeRelay(o?: { rttMs?: number; mbit?: number }): Promise<{ rttMs: number; mbit: number }>;
