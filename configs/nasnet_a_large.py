"""NASNet-A (6 @ 4032) on ImageNet at 331×331, Zoph et al. 2018: the recipe of
configs/nasnet_a_mobile.py (see its docstring) with the large network's numbers —
100 replicas of 16 images at 0.015 each, weight decay 5e-5 and ScheduledDropPath
rising to 0.3 (the registry network's default drop_path).
"""

from configs import nasnet_a_mobile


def get_config():
  return nasnet_a_mobile.recipe(large=True)
