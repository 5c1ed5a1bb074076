import { spawnSync } from "node:child_process";
import http from "node:http";
import path from "node:path";
import type { StartedDockerComposeEnvironment } from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO, REQUIRED_VALUES } from "../../support/compose-file.js";

/**
 * Why the container test cannot run here, or undefined when it can: a Docker engine answering
 * /_ping on DOCKER_HOST (or /var/run/docker.sock) within 1.5 s, and the compose CLI plugin that
 * testcontainers' DockerComposeEnvironment drives. Asked directly rather than through
 * testcontainers, whose runtime discovery takes longer and logs its failures.
 */
async function missingDocker(): Promise<string | undefined> {
  const dockerHost = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  const target = dockerHost.startsWith("unix://")
    ? { socketPath: dockerHost.slice("unix://".length) }
    : dockerHost.startsWith("tcp://")
      ? { host: new URL(dockerHost).hostname, port: Number(new URL(dockerHost).port || 2375) }
      : undefined;
  if (!target) return `needs a Docker engine: DOCKER_HOST=${dockerHost} is neither unix:// nor tcp://`;
  const pong = await new Promise<string | undefined>((resolve) => {
    const request = http.get({ ...target, path: "/_ping", timeout: 1500 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve(response.statusCode === 200 && body === "OK" ? undefined : `answered ${response.statusCode}`));
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 1.5 s")));
    request.on("error", (error: Error) => resolve(error.message));
  });
  if (pong !== undefined) return `needs a Docker engine: none reachable at ${dockerHost} (${pong})`;
  const compose = spawnSync("docker", ["compose", "version"], { encoding: "utf8", timeout: 2000 });
  if (compose.status !== 0) return "needs the docker compose plugin: `docker compose version` failed";
  return undefined;
}

const skipReason = await missingDocker();
const rpc = async (base: string, method: string, body: unknown) =>
  fetch(`${base}/auth.v1.AuthService/${method}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe.skipIf(skipReason !== undefined)(`docker-compose: data + app profiles (${skipReason ?? "Docker engine reachable"})`, () => {
  let environment: StartedDockerComposeEnvironment | undefined;
  let authUrl = "";

  beforeAll(async () => {
    // Loaded only when the test runs: testcontainers pulls in a Docker client the skip does not need.
    const { DockerComposeEnvironment, Wait } = await import("testcontainers");
    environment = await new DockerComposeEnvironment(path.resolve(REPO), "docker-compose.yml")
      .withProfiles("data", "app")
      .withEnvironment(REQUIRED_VALUES)
      .withBuild()
      .withWaitStrategy("auth-1", Wait.forHealthCheck())
      .withWaitStrategy("authz-1", Wait.forHealthCheck())
      .withStartupTimeout(300_000)
      .up();
    const auth = environment.getContainer("auth-1");
    authUrl = `http://${auth.getHost()}:${auth.getMappedPort(7001)}`;
  }, 900_000);

  afterAll(async () => {
    await environment?.down({ removeVolumes: true });
  }, 120_000);

  it("signs up and signs in over Connect JSON", async () => {
    const credentials = { email: `compose-${Date.now()}@example.com`, password: "correct horse battery staple" };
    const signUp = await rpc(authUrl, "SignUp", credentials);
    expect(signUp.status).toBe(200);
    expect(await signUp.json()).toEqual({});

    const signIn = await rpc(authUrl, "SignIn", credentials);
    expect(signIn.status).toBe(200);
    const tokens = (await signIn.json()) as { accessToken?: string; refreshToken?: string; tokenType?: string };
    expect(tokens.tokenType).toBe("Bearer");
    expect(tokens.accessToken).toMatch(/^eyJ/);
    expect(tokens.refreshToken).toBeTruthy();

    // GetMe reads through HAProxy and a replica, with read-your-writes.
    const me = await fetch(`${authUrl}/auth.v1.AuthService/GetMe`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tokens.accessToken}` },
      body: "{}",
    });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { user?: { email?: string } }).user?.email).toBe(credentials.email);
  });
});
