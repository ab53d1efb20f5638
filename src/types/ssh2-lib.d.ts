// ssh2's client-side files, imported one by one (src/transport/ssh/ssh2-lib.ts); typed by @types/ssh2
declare module 'ssh2/lib/client.js' {
  const Client: typeof import('ssh2').Client;
  export = Client;
}
declare module 'ssh2/lib/agent.js' {
  export const BaseAgent: typeof import('ssh2').BaseAgent;
  export const createAgent: typeof import('ssh2').createAgent;
}
declare module 'ssh2/lib/protocol/keyParser.js' {
  export const parseKey: typeof import('ssh2').utils.parseKey;
}
declare module 'ssh2/lib/protocol/Protocol.js' {
  const Protocol: { prototype: Record<string, unknown> };
  export = Protocol;
}
declare module 'ssh2/lib/protocol/utils.js' {
  export function sendPacket(proto: unknown, packet: Buffer, bypass?: boolean): boolean;
}
declare module 'ssh2/lib/protocol/constants.js' {
  const constants: Record<'DEFAULT_KEX' | 'SUPPORTED_KEX' | 'DEFAULT_CIPHER' | 'SUPPORTED_CIPHER' | 'DEFAULT_MAC' | 'SUPPORTED_MAC' | 'DEFAULT_SERVER_HOST_KEY' | 'SUPPORTED_SERVER_HOST_KEY', string[]>;
  export = constants;
}
