BEGIN TRANSACTION;
CREATE TABLE action_cache (
	"key" VARCHAR(64) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	node VARCHAR(300) NOT NULL, 
	files TEXT NOT NULL, 
	outputs TEXT NOT NULL, 
	log_digest VARCHAR(80), 
	duration FLOAT NOT NULL, 
	size INTEGER NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	last_used VARCHAR(32) NOT NULL, 
	PRIMARY KEY ("key")
);
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO "alembic_version" VALUES('0015_org_specs');
INSERT INTO "alembic_version" VALUES('0014_org_work');
INSERT INTO "alembic_version" VALUES('0013_org_keys');
INSERT INTO "alembic_version" VALUES('0013_deploy');
INSERT INTO "alembic_version" VALUES('0013_build');
INSERT INTO "alembic_version" VALUES('0011_journey');
INSERT INTO "alembic_version" VALUES('0012_flags');
INSERT INTO "alembic_version" VALUES('0012_org_blobs');
INSERT INTO "alembic_version" VALUES('0012_trust');
INSERT INTO "alembic_version" VALUES('0010_cache');
INSERT INTO "alembic_version" VALUES('0006');
INSERT INTO "alembic_version" VALUES('0003');
CREATE TABLE analysis_measurements (
	id INTEGER NOT NULL, 
	deployment_id VARCHAR(32) NOT NULL, 
	analysis VARCHAR(100) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	metric VARCHAR(100) NOT NULL, 
	seq INTEGER NOT NULL, 
	at VARCHAR(32) NOT NULL, 
	phase VARCHAR(20) NOT NULL, 
	decision VARCHAR(20) NOT NULL, 
	data TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE api_tokens (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	role VARCHAR(20) NOT NULL, 
	project VARCHAR(100), 
	token_hash BLOB NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	expires_at VARCHAR(32), 
	revoked_at VARCHAR(32), environments TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash)
);
CREATE TABLE artifacts (
	project VARCHAR(100) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	version VARCHAR(100) NOT NULL, 
	digest VARCHAR(71) NOT NULL, 
	size BIGINT NOT NULL, 
	media_type VARCHAR(100) NOT NULL, 
	filename VARCHAR(300) NOT NULL, 
	"commit" VARCHAR(64), 
	run_id VARCHAR(64), 
	provenance_digest VARCHAR(71) NOT NULL, 
	sbom_digest VARCHAR(71) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (project, name, version)
);
CREATE TABLE blob_chunks (
	space VARCHAR(20) NOT NULL, 
	digest VARCHAR(71) NOT NULL, 
	seq INTEGER NOT NULL, 
	data BLOB NOT NULL, 
	PRIMARY KEY (space, digest, seq)
);
CREATE TABLE blob_objects (
	space VARCHAR(20) NOT NULL, 
	digest VARCHAR(71) NOT NULL, 
	size BIGINT NOT NULL, 
	chunks INTEGER NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (space, digest)
);
CREATE TABLE checkpoints (
	tree_size BIGINT NOT NULL, 
	root_hash BLOB NOT NULL, 
	ts VARCHAR(32) NOT NULL, 
	key_id VARCHAR(16) NOT NULL, 
	signature BLOB NOT NULL, 
	PRIMARY KEY (tree_size)
);
CREATE TABLE controller_logs (
	id INTEGER NOT NULL, 
	item VARCHAR(300) NOT NULL, 
	ts VARCHAR(32) NOT NULL, 
	owner VARCHAR(200) NOT NULL, 
	fence BIGINT NOT NULL, 
	line TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE deploy_environments (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	version VARCHAR(100), 
	config_revision VARCHAR(32), 
	deployment_id VARCHAR(32), 
	active_deployment VARCHAR(32), 
	live_pool VARCHAR(20), 
	router TEXT, 
	instances TEXT NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, environment)
);
CREATE TABLE deployments (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	service VARCHAR(100) NOT NULL, 
	version VARCHAR(100) NOT NULL, 
	artifact VARCHAR(300), 
	digest VARCHAR(100), 
	config_revision VARCHAR(32) NOT NULL, 
	strategy VARCHAR(20) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	phase VARCHAR(20) NOT NULL, 
	state TEXT, 
	"plan" TEXT NOT NULL, 
	reason TEXT NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	controller_pid INTEGER, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	finished_at VARCHAR(32), 
	PRIMARY KEY (id)
);
CREATE TABLE dora_commits (
	deployment_seq BIGINT NOT NULL, 
	position INTEGER NOT NULL, 
	sha VARCHAR(64), 
	project VARCHAR(100) NOT NULL, 
	service VARCHAR(200), 
	env VARCHAR(100), 
	ok INTEGER NOT NULL, 
	week INTEGER NOT NULL, 
	committed_at FLOAT NOT NULL, 
	finished_at FLOAT NOT NULL, 
	lead FLOAT NOT NULL
);
CREATE TABLE dora_cursor (
	id INTEGER NOT NULL, 
	seq BIGINT NOT NULL, 
	PRIMARY KEY (id)
);
INSERT INTO "dora_cursor" VALUES(1,-1);
CREATE TABLE dora_deployments (
	seq BIGINT NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	id VARCHAR(300) NOT NULL, 
	service VARCHAR(200), 
	env VARCHAR(100), 
	kind VARCHAR(10) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	ok INTEGER NOT NULL, 
	started_at FLOAT, 
	finished_at FLOAT NOT NULL, 
	week INTEGER NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE TABLE dora_hotfixes (
	seq BIGINT NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	id VARCHAR(300) NOT NULL, 
	deployment_id VARCHAR(300) NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE TABLE dora_week_counts (
	env VARCHAR(100) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	service VARCHAR(200) NOT NULL, 
	week INTEGER NOT NULL, 
	deployments BIGINT NOT NULL, 
	succeeded BIGINT NOT NULL, 
	PRIMARY KEY (env, project, service, week)
);
CREATE TABLE dora_week_leads (
	env VARCHAR(100) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	week INTEGER NOT NULL, 
	bucket INTEGER NOT NULL, 
	n BIGINT NOT NULL, 
	total FLOAT NOT NULL, 
	PRIMARY KEY (env, project, week, bucket)
);
CREATE TABLE events (
	seq BIGINT NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	ts VARCHAR(32) NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	subject VARCHAR(300) NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	payload TEXT NOT NULL, 
	leaf_hash BLOB NOT NULL, 
	root_hash BLOB NOT NULL, 
	PRIMARY KEY (seq)
);
CREATE TABLE flag_change_approvals (
	request_id INTEGER NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (request_id, actor)
);
CREATE TABLE flag_change_requests (
	id INTEGER NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	flag VARCHAR(200) NOT NULL, 
	change TEXT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	approvals_needed INTEGER NOT NULL, 
	proposed_by VARCHAR(200) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	apply_at VARCHAR(32), 
	closed_at VARCHAR(32), 
	closed_by VARCHAR(200), 
	error TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE flag_client_tokens (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	token_hash BLOB NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	revoked_at VARCHAR(32), expires_at VARCHAR(32), kind VARCHAR(20) DEFAULT 'client' NOT NULL, origins TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (token_hash)
);
CREATE TABLE flag_clients (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	app_name VARCHAR(200) NOT NULL, 
	instance_id VARCHAR(200) NOT NULL, 
	sdk_version VARCHAR(100), 
	strategies TEXT NOT NULL, 
	started VARCHAR(40), 
	last_seen VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, environment, app_name, instance_id)
);
CREATE TABLE flag_metrics (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	app_name VARCHAR(200) NOT NULL, 
	hour VARCHAR(13) NOT NULL, 
	yes BIGINT NOT NULL, 
	no BIGINT NOT NULL, 
	PRIMARY KEY (project, environment, name, app_name, hour)
);
CREATE TABLE flag_protections (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	approvals INTEGER NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, environment)
);
CREATE TABLE flag_revisions (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	revision BIGINT NOT NULL, 
	PRIMARY KEY (project, environment)
);
CREATE TABLE flag_schedules (
	id INTEGER NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	flag VARCHAR(200) NOT NULL, 
	action VARCHAR(10) NOT NULL, 
	percentage INTEGER, 
	at VARCHAR(32) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	applied_at VARCHAR(32), 
	cancelled_at VARCHAR(32), 
	error TEXT, 
	PRIMARY KEY (id)
);
CREATE TABLE flag_segments (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	id INTEGER NOT NULL, 
	definition TEXT NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, environment, id)
);
CREATE TABLE flag_variant_counts (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	variant VARCHAR(200) NOT NULL, 
	app_name VARCHAR(200) NOT NULL, 
	day VARCHAR(10) NOT NULL, 
	count BIGINT NOT NULL, 
	PRIMARY KEY (project, environment, name, variant, app_name, day)
);
CREATE TABLE flags (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	name VARCHAR(200) NOT NULL, 
	type VARCHAR(20) NOT NULL, 
	definition TEXT NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, environment, name)
);
CREATE TABLE incidents (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	service VARCHAR(200) NOT NULL, 
	deployment_id VARCHAR(200), 
	title TEXT NOT NULL, 
	opened_at VARCHAR(32) NOT NULL, 
	opened_by VARCHAR(200) NOT NULL, 
	resolved_at VARCHAR(32), 
	resolved_by VARCHAR(200), 
	PRIMARY KEY (id)
);
CREATE TABLE log_head (
	id INTEGER NOT NULL, 
	size BIGINT NOT NULL, 
	root_hash BLOB NOT NULL, 
	frontier BLOB NOT NULL, seal BLOB, 
	PRIMARY KEY (id)
);
INSERT INTO "log_head" VALUES(1,0,X'E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855',X'',NULL);
CREATE TABLE notify_deliveries (
	sink VARCHAR(100) NOT NULL, 
	seq INTEGER NOT NULL, 
	kind VARCHAR(100) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	attempts INTEGER NOT NULL, 
	detail TEXT NOT NULL, 
	at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (sink, seq)
);
CREATE TABLE osv_records (
	id VARCHAR(100) NOT NULL, 
	modified VARCHAR(40) NOT NULL, 
	body TEXT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE pipeline_runs (
	id INTEGER NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	"commit" VARCHAR(64) NOT NULL, 
	"trigger" VARCHAR(100) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	jobs TEXT NOT NULL, 
	started_at VARCHAR(32) NOT NULL, 
	finished_at VARCHAR(32), 
	duration FLOAT, base_run INTEGER, pruned_at VARCHAR(32), 
	PRIMARY KEY (id)
);
CREATE TABLE pipeline_steps (
	run_id INTEGER NOT NULL, 
	node VARCHAR(300) NOT NULL, 
	job VARCHAR(100) NOT NULL, 
	matrix TEXT NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	cached BOOLEAN NOT NULL, 
	"key" VARCHAR(64), 
	manifest TEXT, 
	duration FLOAT NOT NULL, 
	queued FLOAT NOT NULL, 
	attempt INTEGER NOT NULL, 
	log_digest VARCHAR(80), 
	outputs TEXT NOT NULL, 
	reason TEXT NOT NULL, 
	finished_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (run_id, node), 
	FOREIGN KEY(run_id) REFERENCES pipeline_runs (id)
);
CREATE TABLE project_specs (
	project VARCHAR(100) NOT NULL, 
	revision INTEGER NOT NULL, 
	digest VARCHAR(71) NOT NULL, 
	yaml TEXT NOT NULL, 
	file VARCHAR(300) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (project, revision)
);
CREATE TABLE projects (
	name VARCHAR(100) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE release_approvals (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	version VARCHAR(100) NOT NULL, 
	release_digest VARCHAR(100) NOT NULL, 
	revision VARCHAR(64), 
	approver VARCHAR(200) NOT NULL, 
	comment TEXT NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE release_freezes (
	project VARCHAR(100) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	definition TEXT NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, name)
);
CREATE TABLE release_locks (
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	held_by VARCHAR(200) NOT NULL, 
	reason TEXT NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	expires_at VARCHAR(32), 
	PRIMARY KEY (project, environment)
);
CREATE TABLE release_overrides (
	id VARCHAR(32) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	environment VARCHAR(100) NOT NULL, 
	gates TEXT NOT NULL, 
	reason TEXT NOT NULL, 
	incident VARCHAR(200), 
	ttl_seconds INTEGER NOT NULL, 
	requested_by VARCHAR(200) NOT NULL, 
	requested_at VARCHAR(32) NOT NULL, 
	approved_by VARCHAR(200), 
	approved_at VARCHAR(32), 
	expires_at VARCHAR(32), 
	reviewed_at VARCHAR(32), 
	PRIMARY KEY (id)
);
CREATE TABLE release_trains (
	project VARCHAR(100) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	branch VARCHAR(200) NOT NULL, 
	"commit" VARCHAR(64) NOT NULL, 
	cut_by VARCHAR(200) NOT NULL, 
	cut_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project, name)
);
CREATE TABLE remote_cache_counts (
	day VARCHAR(10) NOT NULL, 
	kind VARCHAR(8) NOT NULL, 
	hits BIGINT NOT NULL, 
	misses BIGINT NOT NULL, 
	writes BIGINT NOT NULL, 
	refused BIGINT NOT NULL, 
	bytes_read BIGINT NOT NULL, 
	bytes_written BIGINT NOT NULL, 
	evicted BIGINT NOT NULL, 
	PRIMARY KEY (day, kind)
);
CREATE TABLE remote_cache_entries (
	kind VARCHAR(8) NOT NULL, 
	"key" VARCHAR(128) NOT NULL, 
	digest VARCHAR(80) NOT NULL, 
	size BIGINT NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	last_used VARCHAR(32) NOT NULL, 
	PRIMARY KEY (kind, "key")
);
CREATE TABLE repositories (
	project VARCHAR(100) NOT NULL, 
	name VARCHAR(300) NOT NULL, 
	remote TEXT NOT NULL, 
	secret TEXT NOT NULL, 
	executor VARCHAR(300) NOT NULL, 
	status_command TEXT, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (project), 
	UNIQUE (name)
);
CREATE TABLE rollout_actions (
	id VARCHAR(32) NOT NULL, 
	deployment_id VARCHAR(32) NOT NULL, 
	action VARCHAR(20) NOT NULL, 
	actor VARCHAR(200) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	taken_at VARCHAR(32), 
	PRIMARY KEY (id)
);
CREATE TABLE run_requests (
	id INTEGER NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	"commit" VARCHAR(64) NOT NULL, 
	ref VARCHAR(300) NOT NULL, 
	"trigger" VARCHAR(100) NOT NULL, 
	requested_by VARCHAR(200) NOT NULL, 
	status VARCHAR(20) NOT NULL, 
	run_id INTEGER, 
	reason TEXT NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	updated_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE server_keys (
	key_id VARCHAR(16) NOT NULL, 
	public_key BLOB NOT NULL, 
	sealed BLOB NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	retired_at VARCHAR(32), 
	PRIMARY KEY (key_id)
);
CREATE TABLE service_releases (
	project VARCHAR(100) NOT NULL, 
	service VARCHAR(100) NOT NULL, 
	version VARCHAR(100) NOT NULL, 
	previous VARCHAR(100), 
	bump VARCHAR(10) NOT NULL, 
	tag VARCHAR(200) NOT NULL, 
	"commit" VARCHAR(64) NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	created_by VARCHAR(200) NOT NULL, 
	PRIMARY KEY (project, service, version)
);
CREATE TABLE signing_keys (
	key_id VARCHAR(16) NOT NULL, 
	public_key BLOB NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	PRIMARY KEY (key_id)
);
CREATE TABLE work_items (
	id VARCHAR(300) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	project VARCHAR(100) NOT NULL, 
	state VARCHAR(10) NOT NULL, 
	owner VARCHAR(200), 
	fence BIGINT NOT NULL, 
	expires_at FLOAT, 
	heartbeat_at FLOAT, 
	not_before FLOAT, 
	attempts INTEGER NOT NULL, 
	created_at VARCHAR(32) NOT NULL, 
	finished_at VARCHAR(32), 
	PRIMARY KEY (id)
);
CREATE INDEX ix_events_kind ON events (project, kind, seq);
CREATE INDEX ix_events_subject ON events (project, subject, seq);
CREATE INDEX ix_deployments_env ON deployments (project, environment, created_at);
CREATE INDEX ix_rollout_actions_dep ON rollout_actions (deployment_id, taken_at);
CREATE INDEX ix_work_items_pending ON work_items (state, kind);
CREATE INDEX ix_controller_logs_item ON controller_logs (item, id);
CREATE INDEX ix_analysis_measurements_dep ON analysis_measurements (deployment_id, id);
CREATE INDEX ix_pipeline_runs_project ON pipeline_runs (project, id);
CREATE INDEX ix_pipeline_steps_node ON pipeline_steps (node, run_id);
CREATE INDEX ix_action_cache_last_used ON action_cache (last_used);
CREATE INDEX ix_incidents_service ON incidents (project, service, opened_at);
CREATE INDEX ix_incidents_deployment ON incidents (project, deployment_id);
CREATE INDEX ix_dora_deployments_window ON dora_deployments (env, finished_at, project, service, ok, week);
CREATE INDEX ix_dora_deployments_next ON dora_deployments (env, service, ok, finished_at, project);
CREATE INDEX ix_dora_deployments_failures ON dora_deployments (env, ok, finished_at, project, service, status, week);
CREATE INDEX ix_dora_deployments_id ON dora_deployments (project, id);
CREATE INDEX ix_dora_commits_lead ON dora_commits (env, ok, week, lead, finished_at, project, service);
CREATE INDEX ix_dora_hotfixes_deployment ON dora_hotfixes (project, deployment_id);
CREATE INDEX ix_flag_metrics_name ON flag_metrics (project, name, hour);
CREATE INDEX ix_flag_schedules_at ON flag_schedules (at);
CREATE INDEX ix_flag_change_requests_status ON flag_change_requests (project, status);
CREATE INDEX ix_remote_cache_last_used ON remote_cache_entries (last_used);
CREATE INDEX ix_remote_cache_digest ON remote_cache_entries (digest);
CREATE INDEX ix_run_requests_status ON run_requests (status, id);
CREATE INDEX ix_release_approvals_env ON release_approvals (project, environment, version);
CREATE INDEX ix_release_overrides_env ON release_overrides (project, environment);
CREATE INDEX ix_artifacts_digest ON artifacts (project, digest);
COMMIT;
