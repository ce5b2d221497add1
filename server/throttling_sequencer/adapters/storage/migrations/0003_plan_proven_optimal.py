from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('plans', '0002_plan_arrival_lower_bound')]

    initial = False

    operations = [
        ops.AddField(
            model_name='PlanRecord',
            name='proven_optimal',
            field=fields.BooleanField(default=False),
        ),
    ]
