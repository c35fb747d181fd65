"""`charrnn export onnx|web`: the model for other runtimes."""

import click

from .group import checkpoint_option, cli


@cli.group()
def export():
    """Write a trained model for other runtimes: an ONNX graph or a web page."""


def export_options(command):
    command = click.option("--overwrite", is_flag=True, help="Replace an earlier export.")(command)
    return checkpoint_option(command)


@export.command(name="onnx")
@click.argument("output", type=click.Path(dir_okay=False))
@export_options
def export_onnx(output, checkpoint, overwrite):
    """Write the model as an ONNX graph to OUTPUT (needs charrnn[export])."""
    from ..export import onnx_exporter

    click.echo(onnx_exporter()(checkpoint, output, overwrite))


@export.command(name="web")
@click.argument("directory", type=click.Path(file_okay=False))
@export_options
def export_web(directory, checkpoint, overwrite):
    """Write a web page and a Node sampler to DIRECTORY."""
    from ..export.web import export_web

    click.echo(export_web(checkpoint, directory, overwrite))
