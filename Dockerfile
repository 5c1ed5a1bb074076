# Images from one file. The default (last) stage, `runtime`, is the production image: the auth
# service, the authz server, the mail worker and migrations as compiled JavaScript run by node,
# with production dependencies only. `tools` adds what only compose's helpers need (the example
# upstream, the mail sink, the Envoy config render: tsx, smtp-server, mailparser, yaml and
# src/stack), so none of it ships in production. docker-compose.yml picks the process with
# `command` and the image with `build.target`.
FROM node:20-bookworm-slim AS base
WORKDIR /app
COPY package.json package-lock.json ./

# Every dependency, and the whole repository: the compiler for `build`, the launcher for `tools`.
FROM base AS dev
RUN npm ci --no-audit --no-fund && npm cache clean --force
COPY . .

FROM dev AS build
RUN npm run build

FROM dev AS tools
# Where the helpers write (mail sink messages, the rendered Envoy config). A named volume mounted
# here starts with this ownership, so the unprivileged user can write it.
RUN mkdir -p /var/lib/auth-platform/mail /var/lib/auth-platform/envoy \
    && chown -R node:node /var/lib/auth-platform
USER node

FROM base AS runtime
ENV NODE_ENV=production
# Dependencies first, so a source change does not reinstall them.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# Only what the services run and read: the compiled services (dist/ mirrors src/, so paths they
# resolve from their own location land on the files below), migrations, protos (reflection and
# the ext_authz API) and the common-password list. Root-owned: the processes never write there.
COPY --from=build /app/dist/ dist/
COPY migrations/ migrations/
COPY proto/ proto/
COPY envoy/api/ envoy/api/
COPY data/ data/
USER node
# node itself as the process (no npm in between), so SIGTERM from `docker stop` reaches the
# service's own shutdown handler.
CMD ["node", "dist/main-auth.js"]
