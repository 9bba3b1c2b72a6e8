"""The paper recipes of configs/ build the registered models they name, at their inputs."""

import pytest

import models
from tests.helpers import load_recipe


@pytest.mark.parametrize('recipe, model, image_size, rate', [
    ('alexnet', 'alexnet', 227, 0.02), ('zfnet', 'zfnet', 224, 0.02),
    ('vgg16', 'vgg16', 224, 0.01)])
def test_classic_recipes_follow_their_papers(recipe, model, image_size, rate):
  config = load_recipe(recipe)
  assert config.model == model and config.model in models.names()
  assert config.image_size == image_size == models.spec(model).input_size
  assert config.learning_rate == pytest.approx(rate)
  # train.py scales the per-256 rate to the batch: the papers' 0.01 at their batch.
  assert config.learning_rate * config.batch_size / 256 == pytest.approx(0.01)
  assert config.model_options.dropout_rate == 0.5


@pytest.mark.parametrize('recipe', [
    'preact_resnet164_cifar10', 'wrn28_10_cifar10', 'resnext50_32x4d', 'se_resnet50',
    'resnet110_stochastic_depth_cifar10', 'wide_resnet50_2'])
def test_residual_recipes_build_their_models(recipe):
  config = load_recipe(recipe)
  model_spec = models.spec(config.model)
  assert (config.num_classes, config.image_size) == (model_spec.num_classes,
                                                     model_spec.input_size)
  models.create(config.model, num_classes=config.num_classes,
                **config.model_options.to_dict())  # unknown options raise TypeError
