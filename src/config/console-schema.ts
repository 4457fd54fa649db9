/**
 * The `console:` section of vigil.yaml: who may log in, and how the console
 * is reached (TLS, the names it answers to). Its defaults live here too.
 */
import { formatDuration } from "./duration.ts";
import { SCRYPT_HASH_EXAMPLE } from "./password-hash.ts";

export const CONSOLE_ROLES = ["viewer", "operator", "admin"] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];

export const CONSOLE_DEFAULTS = {
  tls: true,
  session_timeout: 8 * 3_600_000,
  api_token: false,
} as const;

const user = {
  type: "object",
  title: "console user",
  additionalProperties: false,
  required: ["name", "role", "password"],
  properties: {
    name: { type: "string", format: "name", description: "The login name." },
    role: {
      type: "string",
      enum: [...CONSOLE_ROLES],
      description: "viewer: sees everything, commands nothing; operator: also module commands; admin: also forceprim.",
    },
    password: {
      type: "string",
      description: `The password's scrypt hash, as \`vigil passwd\` prints it (${SCRYPT_HASH_EXAMPLE}); never the password itself.`,
    },
  },
};

export const consoleSchema: object = {
  type: "object",
  title: "console",
  additionalProperties: false,
  description: "Login and transport of the web console (web.listen says where it listens).",
  properties: {
    users: {
      type: "array",
      items: user,
      expected: "a list of users, like [{ name: alice, role: operator, password: HASH }]",
      description: "Who may log in. Without users, the daemon makes one user, admin, and writes its password to console-password in the state dir.",
      default: [],
    },
    tls: {
      type: "boolean",
      description: "Serve the console over HTTPS (true, the default) or plain HTTP (false; only behind a TLS proxy or on loopback).",
      default: CONSOLE_DEFAULTS.tls,
    },
    cert: { type: "string", format: "path", description: "PEM certificate (chain) of the console. Without cert and key, a self-signed one is made in the state dir." },
    key: { type: "string", format: "path", description: "PEM private key of cert." },
    names: {
      type: "array",
      items: { type: "string", format: "name", description: "A host name." },
      expected: "a list of host names, like [vms1.example.com]",
      description: "Host names the console answers to besides this node's addresses, its name, the host name and localhost (requests naming another Host are refused: DNS rebinding).",
      default: [],
    },
    session_timeout: {
      type: "string",
      format: "duration",
      description: "How long a login lasts.",
      default: formatDuration(CONSOLE_DEFAULTS.session_timeout),
    },
    api_token: {
      type: "boolean",
      description: "Also accept `Authorization: Bearer TOKEN` (`vigil token`) for module commands, as an operator. Off by default: the token never expires.",
      default: CONSOLE_DEFAULTS.api_token,
    },
  },
};
