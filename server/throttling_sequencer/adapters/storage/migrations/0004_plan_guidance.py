from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('plans', '0003_plan_proven_optimal')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PlanRecord',
            name='guidance',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
    ]
