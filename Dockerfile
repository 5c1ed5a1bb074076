# Two images from one file. The default (last) stage, `runtime`, is the production image: the auth
# service, the authz server, the mail worker and migrations, with production dependencies only.
# `tools` adds what only compose's helpers need (the example upstream, the mail sink, the Envoy
# config render: smtp-server, mailparser, yaml and src/stack), so none of it ships in production.
# docker-compose.yml picks the process with `command` and the image with `build.target`.
FROM node:20-bookworm-slim AS base
WORKDIR /app
COPY package.json package-lock.json ./

FROM base AS tools
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY . .
# Where the helpers write (mail sink messages, the rendered Envoy config). A named volume mounted
# here starts with this ownership, so the unprivileged user can write it.
RUN mkdir -p /var/lib/auth-platform/mail /var/lib/auth-platform/envoy \
    && chown -R node:node /var/lib/auth-platform
USER node

FROM base AS runtime
ENV NODE_ENV=production
# Dependencies first, so a source change does not reinstall them. tsx is a runtime dependency:
# the services run their TypeScript directly, there is no build step.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Only what the services run and read: their sources (not the launcher in src/stack, the example
# upstream or `npm start`), migrations, protos (reflection and the ext_authz API) and the
# common-password list. Root-owned: the processes read them and never write there.
COPY tsconfig.json ./
COPY src/auth/ src/auth/
COPY src/authz/ src/authz/
COPY src/contract/ src/contract/
COPY src/gen/ src/gen/
COPY src/platform/ src/platform/
COPY src/main-auth.ts src/main-authz.ts src/main-mail-worker.ts src/main-migrate.ts src/
COPY migrations/ migrations/
COPY proto/ proto/
COPY envoy/api/ envoy/api/
COPY data/ data/
USER node
# `node --import tsx` rather than `npx tsx`: one process (no npm or tsx launcher in between), so
# SIGTERM from `docker stop` reaches the service's own shutdown handler.
CMD ["node", "--import", "tsx", "src/main-auth.ts"]
