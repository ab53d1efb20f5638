/**
 * The parts of ssh2 a client needs, each from its own file. ssh2's index also loads its server,
 * key generator and HTTP agents, and with them Node's http, https, tls and dns: several ms of
 * start-up for every command that connects, for nothing.
 */
import Client from 'ssh2/lib/client.js';
import { BaseAgent, createAgent } from 'ssh2/lib/agent.js';
import { parseKey } from 'ssh2/lib/protocol/keyParser.js';

export { BaseAgent, Client, createAgent, parseKey };
