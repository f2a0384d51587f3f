"""`mlptrain config show|schema|reference`: the resolved config, its JSON Schema, the
reference table of every key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlptrain.cli.common import Debug, Overrides, SetOption, user_errors

config_app = typer.Typer(
    help="Show the resolved config or the JSON Schema of configs.",
    no_args_is_help=True,
)


@config_app.command("show", epilog="Example:\n\n  mlptrain config show configs/spiral.yaml "
                    "model.hidden=[128,64]")
def config_show(
    config: Annotated[Path, typer.Argument(help="The experiment config (YAML).")],
    overrides: Overrides = None,
    set_: SetOption = None,
    debug: Debug = False,
) -> None:
    """Print CONFIG fully resolved: overrides applied, every default filled in."""
    with user_errors(debug):
        from mlptrain.config import config_to_yaml, load_config

        cfg = load_config(config, list(overrides or []) + list(set_ or []))
        typer.echo(config_to_yaml(cfg), nl=False)


@config_app.command("schema", epilog="Example:\n\n  mlptrain config schema > mlptrain.schema.json")
def config_schema() -> None:
    """Print the JSON Schema of experiment configs (for an editor's YAML plugin)."""
    import json

    from mlptrain.config import ExperimentConfig

    schema = ExperimentConfig.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlptrain experiment config"
    with user_errors(False):
        typer.echo(json.dumps(schema, indent=2))


@config_app.command("reference", epilog="Example:\n\n  mlptrain config reference > CONFIG.md")
def config_reference() -> None:
    """Print the reference of every config key (default and meaning) as a Markdown table."""
    from mlptrain.config.reference import markdown_reference

    with user_errors(False):
        typer.echo(markdown_reference(), nl=False)


def register(app: typer.Typer) -> None:
    """Add the `config` group to `app`."""
    app.add_typer(config_app, name="config")
